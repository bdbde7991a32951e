//! Data shared by the server and the browser: what server functions return.

use serde::{Deserialize, Serialize};

mod audit;
mod number;
mod plan;
mod time;
mod usage;

pub use audit::{AuditAction, AuditFilter, AuditPage, AuditRow};
pub use number::Grouping;
pub use plan::{Period, Plan};
pub use time::*;
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

/// How long a rotated token keeps working beside its successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationGrace {
    None,
    FifteenMinutes,
    FortyEightHours,
}

impl RotationGrace {
    pub const ALL: [RotationGrace; 3] = [
        RotationGrace::None,
        RotationGrace::FifteenMinutes,
        RotationGrace::FortyEightHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationGrace::None => "none",
            RotationGrace::FifteenMinutes => "15m",
            RotationGrace::FortyEightHours => "48h",
        }
    }

    pub fn parse(value: &str) -> Option<RotationGrace> {
        RotationGrace::ALL.into_iter().find(|g| g.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            RotationGrace::None => "Stop at once",
            RotationGrace::FifteenMinutes => "After 15 minutes",
            RotationGrace::FortyEightHours => "After 48 hours",
        }
    }

    pub fn millis(self) -> i64 {
        match self {
            RotationGrace::None => 0,
            RotationGrace::FifteenMinutes => 15 * 60 * 1000,
            RotationGrace::FortyEightHours => 48 * 3600 * 1000,
        }
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

/// The scopes of spec §4, each described once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    AnalyticsRead,
    CampaignsRead,
    ConversionsRead,
    CustomersRead,
    PiiRead,
    CreditsRead,
    ReportsRead,
    ReportsWrite,
    ConversionsWrite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeGroup {
    Read,
    Sensitive,
    Write,
}

impl ScopeGroup {
    pub fn label(self) -> &'static str {
        match self {
            ScopeGroup::Read => "Read",
            ScopeGroup::Sensitive => "Sensitive",
            ScopeGroup::Write => "Write",
        }
    }
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::AnalyticsRead,
        Scope::CampaignsRead,
        Scope::ConversionsRead,
        Scope::CustomersRead,
        Scope::PiiRead,
        Scope::CreditsRead,
        Scope::ReportsRead,
        Scope::ReportsWrite,
        Scope::ConversionsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AnalyticsRead => "analytics:read",
            Scope::CampaignsRead => "campaigns:read",
            Scope::ConversionsRead => "conversions:read",
            Scope::CustomersRead => "customers:read",
            Scope::PiiRead => "pii:read",
            Scope::CreditsRead => "credits:read",
            Scope::ReportsRead => "reports:read",
            Scope::ReportsWrite => "reports:write",
            Scope::ConversionsWrite => "conversions:write",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn grants(self) -> &'static str {
        match self {
            Scope::AnalyticsRead => "Performance summaries, period comparisons, anomalies",
            Scope::CampaignsRead => "Campaigns, creatives, fatigue, attribution models",
            Scope::ConversionsRead => "Conversions, WhatsApp attribution",
            Scope::CustomersRead => "Customer journeys, PII masked",
            Scope::PiiRead => {
                "Unmask email, phone and full name when a call passes include_sensitive=true"
            }
            Scope::CreditsRead => "Credit balance and ledger",
            Scope::ReportsRead => "Report and export status, results",
            Scope::ReportsWrite => "Start reports and audience exports",
            Scope::ConversionsWrite => {
                "Send conversions to the workspace's external endpoint (write-back)"
            }
        }
    }

    pub fn group(self) -> ScopeGroup {
        match self {
            Scope::PiiRead => ScopeGroup::Sensitive,
            Scope::ReportsWrite | Scope::ConversionsWrite => ScopeGroup::Write,
            _ => ScopeGroup::Read,
        }
    }

    /// What a token with this scope does, in the create form's one-line summary.
    pub fn summary(self) -> &'static str {
        match self {
            Scope::AnalyticsRead => "reads analytics",
            Scope::CampaignsRead => "reads campaigns",
            Scope::ConversionsRead => "reads conversions",
            Scope::CustomersRead => "reads customer journeys (PII masked)",
            Scope::PiiRead => "may unmask PII",
            Scope::CreditsRead => "reads credits",
            Scope::ReportsRead => "reads reports",
            Scope::ReportsWrite => "starts reports (spends credits)",
            Scope::ConversionsWrite => "sends conversions out",
        }
    }

    /// The mark spec §4 puts beside the scope.
    pub fn mark(self) -> Option<&'static str> {
        match self {
            Scope::CustomersRead => Some("PII (masked)"),
            Scope::PiiRead => Some("sensitive"),
            Scope::ReportsWrite => Some("spends credits"),
            Scope::ConversionsWrite => Some("external effect"),
            _ => None,
        }
    }

    /// New tokens start with the read scopes that hold no customer data (least privilege:
    /// `customers:read` is a click away, `pii:read` is not a read scope at all).
    pub fn is_default(self) -> bool {
        self.group() == ScopeGroup::Read && self != Scope::CustomersRead
    }

    /// Members may grant read scopes only; `pii:read` and write scopes need an admin or owner.
    pub fn grantable_by(self, role: Role) -> bool {
        role.is_admin() || self.group() == ScopeGroup::Read
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binding {
    User,
    Organization,
    Workspace,
}

impl Binding {
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::User => "user",
            Binding::Organization => "organization",
            Binding::Workspace => "workspace",
        }
    }

    pub fn parse(value: &str) -> Option<Binding> {
        [Binding::User, Binding::Organization, Binding::Workspace]
            .into_iter()
            .find(|b| b.as_str() == value)
    }
}

/// A token that passed verification: what the enforcement pipeline needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub id: i64,
    pub org_id: i64,
    pub binding: Binding,
    pub user_id: Option<i64>,
    pub workspace_id: Option<i64>,
    pub scopes: Vec<Scope>,
}

/// What a new token reaches, as the create form's one Reach control submits it: `user`,
/// `organization` or `workspace:<id>` (one value, so the reach chosen is the reach made).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reach {
    Personal,
    Organization,
    Workspace(i64),
}

impl Reach {
    pub fn value(self) -> String {
        match self {
            Reach::Personal => "user".into(),
            Reach::Organization => "organization".into(),
            Reach::Workspace(id) => format!("workspace:{id}"),
        }
    }

    pub fn parse(value: &str) -> Option<Reach> {
        match value.split_once(':') {
            Some(("workspace", id)) => id.parse().ok().map(Reach::Workspace),
            None if value == "user" => Some(Reach::Personal),
            None if value == "organization" => Some(Reach::Organization),
            _ => None,
        }
    }

    pub fn binding(self) -> Binding {
        match self {
            Reach::Personal => Binding::User,
            Reach::Organization => Binding::Organization,
            Reach::Workspace(_) => Binding::Workspace,
        }
    }

    pub fn workspace_id(self) -> Option<i64> {
        match self {
            Reach::Workspace(id) => Some(id),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    Active,
    InGrace { until: i64 },
    Rotated { at: i64 },
    Revoked { at: i64 },
    Expired { at: i64 },
}

impl TokenStatus {
    /// The one rule for whether a token works at `now`.
    pub fn of(
        revoked_at: Option<i64>,
        grace_until: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> TokenStatus {
        if let Some(at) = revoked_at {
            return TokenStatus::Revoked { at };
        }
        if let Some(at) = expires_at.filter(|at| *at <= now) {
            return TokenStatus::Expired { at };
        }
        match grace_until {
            Some(until) if until > now => TokenStatus::InGrace { until },
            Some(at) => TokenStatus::Rotated { at },
            None => TokenStatus::Active,
        }
    }

    pub fn is_usable(&self) -> bool {
        matches!(self, TokenStatus::Active | TokenStatus::InGrace { .. })
    }

    pub fn label(&self) -> String {
        match self {
            TokenStatus::Active => "Active".into(),
            TokenStatus::InGrace { until } => format!("In grace until {}", format_time(*until)),
            TokenStatus::Rotated { .. } => "Rotated".into(),
            TokenStatus::Revoked { .. } => "Revoked".into(),
            TokenStatus::Expired { .. } => "Expired".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub label: String,
    pub hint: String,
    pub scopes: Vec<Scope>,
    pub binding: Binding,
    /// The workspace of a workspace-bound token.
    pub workspace: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_client: Option<String>,
    pub expires_at: Option<i64>,
    pub status: TokenStatus,
    /// The token that replaced this one when it was rotated.
    pub successor_id: Option<i64>,
}

impl TokenView {
    /// "Workspace: Client B", "Organization", "Personal": what the token reaches, in a word.
    pub fn reach_label(&self) -> String {
        match self.binding {
            Binding::User => "Personal".into(),
            Binding::Organization => "Organization".into(),
            Binding::Workspace => {
                format!("Workspace: {}", self.workspace.clone().unwrap_or_default())
            }
        }
    }

    /// What the reach means, in a sentence.
    pub fn reach_explained(&self) -> String {
        match self.binding {
            Binding::User => "Every workspace of every organization its owner belongs to, with the scopes their role there allows.".into(),
            Binding::Organization => "Every workspace of this organization.".into(),
            Binding::Workspace => format!(
                "Only the workspace {}.",
                self.workspace.clone().unwrap_or_default()
            ),
        }
    }

    /// "7 scopes · 1 write · PII": the scopes in a few words, for a list row.
    pub fn scopes_summary(&self) -> String {
        let n = self.scopes.len();
        let mut parts = vec![format!("{n} scope{}", if n == 1 { "" } else { "s" })];
        let writes = self
            .scopes
            .iter()
            .filter(|s| s.group() == ScopeGroup::Write)
            .count();
        if writes > 0 {
            parts.push(format!("{writes} write"));
        }
        if self.scopes.contains(&Scope::PiiRead) {
            parts.push("PII".into());
        }
        parts.join(" · ")
    }
}

/// One token's page: what it is, what it used this period, and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDetail {
    pub token: TokenView,
    pub now: i64,
    pub period_start: i64,
    /// Calls and units by tool in the organization's current period.
    pub usage: Vec<UsageRow>,
    /// Its audit events (admins only: the audit log is theirs).
    pub events: Option<AuditPage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensPage {
    pub my_role: Role,
    pub now: i64,
    pub tokens: Vec<TokenView>,
    pub workspaces: Vec<(i64, String)>,
    pub personal_remaining: Option<i64>,
    pub organization_remaining: Option<i64>,
    pub default_grace: RotationGrace,
    pub public_url: String,
}

/// A token in plaintext: returned once, by create or rotate, and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedToken {
    pub token: String,
    pub label: String,
    pub public_url: String,
}

#[cfg(test)]
mod token_model_tests {
    use super::*;

    #[test]
    fn status_rules() {
        assert_eq!(TokenStatus::of(None, None, None, 10), TokenStatus::Active);
        assert_eq!(
            TokenStatus::of(Some(5), None, None, 10),
            TokenStatus::Revoked { at: 5 }
        );
        assert_eq!(
            TokenStatus::of(None, Some(11), None, 10),
            TokenStatus::InGrace { until: 11 }
        );
        assert_eq!(
            TokenStatus::of(None, Some(10), None, 10),
            TokenStatus::Rotated { at: 10 }
        );
        assert_eq!(
            TokenStatus::of(None, None, Some(10), 10),
            TokenStatus::Expired { at: 10 }
        );
        assert!(TokenStatus::of(None, None, Some(11), 10).is_usable());
    }

    #[test]
    fn members_grant_only_read_scopes() {
        let member: Vec<_> = Scope::ALL
            .into_iter()
            .filter(|s| s.grantable_by(Role::Member))
            .collect();
        assert!(!member.contains(&Scope::PiiRead));
        assert!(!member.contains(&Scope::ReportsWrite));
        assert!(member.contains(&Scope::CustomersRead));
        assert!(Scope::ALL.into_iter().all(|s| s.grantable_by(Role::Admin)));
        assert!(!Scope::PiiRead.is_default());
        assert!(!Scope::CustomersRead.is_default());
    }
}
