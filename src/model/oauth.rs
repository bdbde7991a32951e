//! What the OAuth pages show: the consent page's request and the connected apps.

use serde::{Deserialize, Serialize};

use super::{Role, Scope, TokenView};

/// A client's request as the consent page shows it, with what the signed-in user may grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub id: String,
    pub client_name: String,
    /// The host of a metadata-document client's id: who vouches for the name.
    pub client_host: Option<String>,
    /// Where the browser goes after the decision.
    pub redirect_host: String,
    /// Every redirect URI is on the user's own machine, where any program could have
    /// registered the client under any name.
    pub loopback_only: bool,
    /// The scopes the client asked for (those Tollgate knows).
    pub scopes: Vec<Scope>,
    pub email: String,
    pub organization: String,
    pub role: Role,
    pub workspaces: Vec<(i64, String)>,
    pub now: i64,
}

/// A grant as Developer › Connected apps lists it: the token it is (its label is the client's
/// name, its creator the user who approved it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedApp {
    pub grant: TokenView,
    pub client_host: Option<String>,
    /// Its calls and units in this organization this period.
    pub calls: i64,
    pub units: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedAppsPage {
    pub apps: Vec<ConnectedApp>,
    pub now: i64,
}
