//! Tokens as the dashboard and the pipeline see them: binding and reach, status, rotation
//! grace, the views of the token pages.

use serde::{Deserialize, Serialize};

use super::{format_time, AuditPage, Role, Scope, ScopeGroup, UsageRow};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binding {
    User,
    Organization,
    Workspace,
    /// One profile of one workspace (spec §12's API keys).
    Profile,
}

impl Binding {
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::User => "user",
            Binding::Organization => "organization",
            Binding::Workspace => "workspace",
            Binding::Profile => "profile",
        }
    }

    /// What the tokens table's `binding` column holds: a profile key is a workspace token
    /// that also names its profile (`profile_id`).
    pub fn column(self) -> &'static str {
        match self {
            Binding::Profile => Binding::Workspace.as_str(),
            other => other.as_str(),
        }
    }

    /// The binding of a stored token, from its `binding` and `profile_id` columns.
    pub fn stored(column: &str, profile_id: Option<i64>) -> Option<Binding> {
        let binding = [Binding::User, Binding::Organization, Binding::Workspace]
            .into_iter()
            .find(|b| b.as_str() == column)?;
        match (binding, profile_id) {
            (Binding::Workspace, Some(_)) => Some(Binding::Profile),
            (binding, None) => Some(binding),
            // A profile on anything but a workspace token is not a token this server made.
            (_, Some(_)) => None,
        }
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
    /// The profile a profile key is bound to (its workspace is `workspace_id`).
    pub profile_id: Option<i64>,
    pub scopes: Vec<Scope>,
    /// The resource an OAuth client's token was issued for (RFC 8707): it is good there only.
    /// None: a pasted token, good on every surface.
    pub audience: Option<std::sync::Arc<str>>,
}

/// What a new token reaches, as the create form's one Reach control submits it: `user`,
/// `organization` or `workspace:<id>` (one value, so the reach chosen is the reach made).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reach {
    Personal,
    Organization,
    Workspace(i64),
    Profile(i64),
}

impl Reach {
    pub fn value(self) -> String {
        match self {
            Reach::Personal => "user".into(),
            Reach::Organization => "organization".into(),
            Reach::Workspace(id) => format!("workspace:{id}"),
            Reach::Profile(id) => format!("profile:{id}"),
        }
    }

    pub fn parse(value: &str) -> Option<Reach> {
        match value.split_once(':') {
            Some(("workspace", id)) => id.parse().ok().map(Reach::Workspace),
            Some(("profile", id)) => id.parse().ok().map(Reach::Profile),
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
            Reach::Profile(_) => Binding::Profile,
        }
    }

    pub fn workspace_id(self) -> Option<i64> {
        match self {
            Reach::Workspace(id) => Some(id),
            _ => None,
        }
    }

    pub fn profile_id(self) -> Option<i64> {
        match self {
            Reach::Profile(id) => Some(id),
            _ => None,
        }
    }

    /// An admin's choices of one profile (`profiles`: id and "Brand (Workspace)"), for keys of
    /// the REST API; offered after [`Reach::choices`] on Developer › Tokens.
    pub fn profile_choices(profiles: &[(i64, String)]) -> Vec<(Reach, String, String)> {
        profiles
            .iter()
            .map(|(id, name)| {
                (
                    Reach::Profile(*id),
                    format!("One profile (API key): {name}"),
                    format!("for the profile {name} only"),
                )
            })
            .collect()
    }

    /// What a user may choose, narrowest first (the default): an admin's workspaces, then the
    /// organization, then personal; a member's only choice is personal. Each with its label
    /// and the phrase a summary ends with.
    pub fn choices(admin: bool, workspaces: &[(i64, String)]) -> Vec<(Reach, String, String)> {
        let personal = (
            Reach::Personal,
            "Personal: every workspace of every organization you belong to".to_string(),
            "in every workspace you can reach".to_string(),
        );
        if !admin {
            return vec![personal];
        }
        workspaces
            .iter()
            .map(|(id, name)| {
                (
                    Reach::Workspace(*id),
                    format!("One workspace: {name}"),
                    format!("in {name}"),
                )
            })
            .chain([
                (
                    Reach::Organization,
                    "This organization: all of its workspaces".to_string(),
                    "in every workspace of this organization".to_string(),
                ),
                personal,
            ])
            .collect()
    }
}

/// When a token chosen now stops, from a form's expiry choice: `none`, a number of days
/// (`7`, `30`, `90`) or `date` with `date` (YYYY-MM-DD, the end of that day UTC).
pub fn chosen_expiry(expiry: &str, date: Option<&str>, now: i64) -> Result<Option<i64>, String> {
    match expiry {
        "none" => Ok(None),
        "date" => date
            .and_then(super::end_of_date)
            .map(Some)
            .ok_or_else(|| "Enter the expiry date as YYYY-MM-DD.".into()),
        days => days
            .parse::<i64>()
            .ok()
            .filter(|d| [7, 30, 90].contains(d))
            .map(|d| Some(now + d * super::DAY_MS))
            .ok_or_else(|| "Choose an expiry from the list.".into()),
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
    /// The workspace of a workspace-bound token (and of a profile key).
    pub workspace: Option<String>,
    /// The profile of a profile key.
    pub profile: Option<String>,
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
            Binding::Profile => format!("Profile: {}", self.profile.clone().unwrap_or_default()),
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
            Binding::Profile => format!(
                "Only the profile {} of the workspace {}: calls name no other profile, and tools that are not about one profile are refused.",
                self.profile.clone().unwrap_or_default(),
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
    /// The organization's profiles, "Brand (Workspace)", for API keys (admins).
    pub profiles: Vec<(i64, String)>,
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
mod tests {
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
        assert!(!Scope::VisitorsRead.is_default());
        assert!(Scope::RealtimeRead.is_default());
    }
}
