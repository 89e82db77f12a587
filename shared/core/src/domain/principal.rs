use serde::{Deserialize, Serialize};

/// TRE-wide roles, from the token (`roles` claim or a configured claim path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TreRole {
    TREAdmin,
    TREUser,
}

impl TreRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TREAdmin => "TREAdmin",
            Self::TREUser => "TREUser",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TREAdmin" => Some(Self::TREAdmin),
            "TREUser" => Some(Self::TREUser),
            _ => None,
        }
    }
}

/// The authenticated caller, as the auth layer established it from a verified token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable subject id (`sub` claim).
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<TreRole>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&TreRole::TREAdmin)
    }
    pub fn is_user(&self) -> bool {
        self.roles.contains(&TreRole::TREUser) || self.is_admin()
    }
}
