//! What every request's handler is given: the application, how callers are authenticated, and
//! what this deployment says of itself.

use tre_core::app::App;

use crate::auth::SharedAuthenticator;

/// Shared state of every request.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub authenticator: SharedAuthenticator,
    /// Signs registry tokens (absent where this TRE runs no registry).
    pub registry_tokens: Option<tre_auth::registry_token::RegistryTokenKey>,
    /// How clients sign in (served by `/api/.metadata`).
    pub sign_in: SignIn,
}

/// How clients get tokens for this API: the OIDC issuer, the audience (client id) tokens are
/// issued to, and the scope to ask for. Empty where the deployment does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignIn {
    pub issuer: String,
    pub client_id: String,
    /// What a client asks for; one scope serves every workspace here (Azure TRE has one per
    /// workspace: its clients read it from `properties.scope_id` or `/scopeid`).
    pub scope_id: String,
}

impl SignIn {
    /// The scope is `api://<client id>` unless given.
    pub fn new(issuer: &str, client_id: &str) -> Self {
        Self {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            scope_id: if client_id.is_empty() {
                String::new()
            } else if client_id.contains("://") {
                client_id.to_string()
            } else {
                format!("api://{client_id}")
            },
        }
    }
}

impl ApiState {
    pub fn new(app: App, authenticator: SharedAuthenticator) -> Self {
        Self {
            app,
            authenticator,
            registry_tokens: None,
            sign_in: SignIn::default(),
        }
    }

    pub fn with_sign_in(mut self, sign_in: SignIn) -> Self {
        self.sign_in = sign_in;
        self
    }

    pub fn with_registry_tokens(mut self, key: tre_auth::registry_token::RegistryTokenKey) -> Self {
        self.registry_tokens = Some(key);
        self
    }
}
