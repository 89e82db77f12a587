//! Mapping verified claims to a [`Principal`]: shared by the validator and by the Lambda glue,
//! where API Gateway's JWT authorizer has already verified the token.

use serde_json::Value;
use tre_core::domain::principal::{Principal, TreRole};

use crate::AuthError;

/// Where the roles of a caller come from in a token's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    /// Claim path holding role names, dotted for nested objects: `roles` (default) or Keycloak's
    /// `realm_access.roles`. A claim whose own name contains dots (e.g. a namespaced URL) is
    /// found too, because the whole path is first tried as one name.
    pub roles_claim: String,
    /// Claim path holding group names (default `groups`; Cognito uses `cognito:groups`).
    pub groups_claim: String,
    /// Group name → role; a group may appear several times to grant several roles.
    pub group_roles: Vec<(String, TreRole)>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            roles_claim: "roles".to_string(),
            groups_claim: "groups".to_string(),
            group_roles: Vec::new(),
        }
    }
}

impl ClaimMapping {
    /// Parse a group mapping like `tre-admins=TREAdmin,tre-users=TREUser`. Unlike role strings
    /// in tokens (ignored when unknown), an unknown role here is a configuration error.
    pub fn parse_group_roles(spec: &str) -> Result<Vec<(String, TreRole)>, AuthError> {
        let mut out = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (group, role) = item.rsplit_once('=').ok_or_else(|| {
                AuthError::Config(format!("group mapping `{item}` is not `group=Role`"))
            })?;
            let role = TreRole::parse(role.trim()).ok_or_else(|| {
                AuthError::Config(format!(
                    "group mapping `{item}` names an unknown role (TREAdmin or TREUser)"
                ))
            })?;
            let group = group.trim();
            if group.is_empty() {
                return Err(AuthError::Config(format!(
                    "group mapping `{item}` has no group"
                )));
            }
            out.push((group.to_string(), role));
        }
        Ok(out)
    }
}

/// The value at a claim path: the whole path as one name first, then dotted segments.
pub(crate) fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.')
        .try_fold(claims, |cur, segment| cur.get(segment))
}

/// Strings of a claim that is an array of strings or one string (split on commas/spaces, the
/// way some issuers and API Gateway render lists).
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn non_empty_str<'a>(claims: &'a Value, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Turn verified claims into the caller. `sub` is required; the display name comes from `name`,
/// `preferred_username` or `email` (else the subject); roles come from the configured claim and
/// from mapped groups. Unknown role strings are ignored, so a token with none of ours yields a
/// principal without roles (which the authorisation layer then denies).
pub fn principal_from_claims(
    claims: &Value,
    mapping: &ClaimMapping,
) -> Result<Principal, AuthError> {
    if !claims.is_object() {
        return Err(AuthError::Malformed("the claims are not a JSON object"));
    }
    let id = match claims.get("sub") {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("sub".to_string())),
        Some(v) => v
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::InvalidClaim("sub".to_string()))?,
    };
    let email = non_empty_str(claims, "email").map(str::to_string);
    let name = ["name", "preferred_username", "email"]
        .iter()
        .find_map(|c| non_empty_str(claims, c))
        .unwrap_or(id)
        .to_string();

    let mut roles: Vec<TreRole> = Vec::new();
    let mut grant = |role: TreRole| {
        if !roles.contains(&role) {
            roles.push(role);
        }
    };
    strings(claim_at(claims, &mapping.roles_claim))
        .into_iter()
        .filter_map(TreRole::parse)
        .for_each(&mut grant);
    if !mapping.group_roles.is_empty() {
        for group in strings(claim_at(claims, &mapping.groups_claim)) {
            mapping
                .group_roles
                .iter()
                .filter(|(g, _)| g == group)
                .for_each(|(_, role)| grant(*role));
        }
    }
    roles.sort_by_key(|r| match r {
        TreRole::TREAdmin => 0,
        TreRole::TREUser => 1,
    });
    Ok(Principal {
        id: id.to_string(),
        name,
        email,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_roles_names_and_groups() {
        let mapping = ClaimMapping {
            group_roles: ClaimMapping::parse_group_roles("tre-admins=TREAdmin, tre-users=TREUser")
                .unwrap(),
            ..ClaimMapping::default()
        };
        let p = principal_from_claims(
            &json!({"sub": "u1", "preferred_username": "ada", "roles": ["TREUser", "Other"],
                    "groups": ["tre-admins"]}),
            &mapping,
        )
        .unwrap();
        assert_eq!(p.id, "u1");
        assert_eq!(p.name, "ada");
        assert_eq!(p.roles, vec![TreRole::TREAdmin, TreRole::TREUser]);
    }

    #[test]
    fn dotted_and_literal_paths() {
        let claims = json!({"sub": "u", "realm_access": {"roles": ["TREAdmin"]},
                            "https://tre.example/roles": "TREUser"});
        let keycloak = ClaimMapping {
            roles_claim: "realm_access.roles".into(),
            ..ClaimMapping::default()
        };
        assert_eq!(
            principal_from_claims(&claims, &keycloak).unwrap().roles,
            vec![TreRole::TREAdmin]
        );
        let namespaced = ClaimMapping {
            roles_claim: "https://tre.example/roles".into(),
            ..ClaimMapping::default()
        };
        assert_eq!(
            principal_from_claims(&claims, &namespaced).unwrap().roles,
            vec![TreRole::TREUser]
        );
    }

    #[test]
    fn requires_sub_and_rejects_bad_config() {
        let m = ClaimMapping::default();
        assert_eq!(
            principal_from_claims(&json!({"name": "x"}), &m),
            Err(AuthError::MissingClaim("sub".into()))
        );
        assert_eq!(
            principal_from_claims(&json!({"sub": 7}), &m),
            Err(AuthError::InvalidClaim("sub".into()))
        );
        let p = principal_from_claims(&json!({"sub": "s", "email": "e@x"}), &m).unwrap();
        assert_eq!(
            (p.name.as_str(), p.email.as_deref(), p.roles.len()),
            ("e@x", Some("e@x"), 0)
        );
        assert!(ClaimMapping::parse_group_roles("a=Root").is_err());
        assert!(ClaimMapping::parse_group_roles("nonsense").is_err());
        assert!(ClaimMapping::parse_group_roles("").unwrap().is_empty());
    }
}
