//! The product's concepts and the data shared by the server and the browser (what server
//! functions return): roles, scopes, tokens, plans, time and date ranges, usage, audit.

use serde::{Deserialize, Serialize};

mod audit;
mod date_range;
mod number;
mod oauth;
mod plan;
mod scope;
mod time;
mod token;
mod usage;

pub use audit::{AuditAction, AuditFilter, AuditPage, AuditRow};
pub use date_range::{DateRange, DateRangeError, MAX_RANGE_DAYS};
pub use number::Grouping;
pub use oauth::{ConnectedApp, ConnectedAppsPage, ConsentRequest};
pub use plan::{Period, Plan};
pub use scope::{Mark, Scope, ScopeGroup};
pub use time::*;
pub use token::{
    chosen_expiry, Binding, Reach, RevealedToken, RotationGrace, TokenDetail, TokenStatus,
    TokenView, TokensPage, VerifiedToken,
};
pub use usage::{DayUsage, LedgerRow, RefusalKind, UsagePage, UsageRow};

/// The most credits an owner grants at once.
pub const MAX_CREDIT_GRANT: i64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    /// Owners and admins manage members, workspaces and organization tokens.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// Who is signed in and in which organization they are working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user_id: i64,
    pub email: String,
    pub orgs: Vec<OrgSummary>,
    /// None when the user belongs to no organization (all memberships removed).
    pub active: Option<OrgSummary>,
    /// How this reader groups thousands; the dashboard's pages read it from their context.
    pub grouping: Grouping,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
    pub is_me: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInvite {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersPage {
    pub my_role: Role,
    /// The public URL invite links start with.
    pub public_url: String,
    pub members: Vec<MemberView>,
    pub invites: Vec<PendingInvite>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceView {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub write_back: WriteBackView,
}

/// A workspace's write-back switch, endpoint and outbox (never the signing secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBackView {
    pub enabled: bool,
    pub url: Option<String>,
    pub secret_set: bool,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspacesPage {
    pub can_manage: bool,
    pub workspaces: Vec<WorkspaceView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub name: String,
    pub plan: Plan,
    pub credit_balance: i64,
    pub default_rotation_grace: RotationGrace,
    pub can_edit: bool,
    pub created_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteState {
    Open,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub org_name: String,
    pub email: String,
    pub role: Role,
    pub state: InviteState,
}
