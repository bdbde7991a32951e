//! The audit log as the dashboard reads it: its actions, rows, pages and filter.

use serde::{Deserialize, Serialize};

/// What an audit event records; stored by its `as_str` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    TokenCreated,
    TokenRotated,
    TokenRevoked,
    TokenFirstUse,
    TokenScopeDenied,
    AppConnected,
    AppRevoked,
    MemberInvited,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    InviteRevoked,
    OrganizationCreated,
    OrganizationUpdated,
    WorkspaceCreated,
    WorkspaceRenamed,
    WorkspaceWriteBack,
    WorkspaceWriteBackRedeliver,
    BillingPlanChanged,
    BillingCreditsGranted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 20] = [
        AuditAction::TokenCreated,
        AuditAction::TokenRotated,
        AuditAction::TokenRevoked,
        AuditAction::TokenFirstUse,
        AuditAction::TokenScopeDenied,
        AuditAction::AppConnected,
        AuditAction::AppRevoked,
        AuditAction::MemberInvited,
        AuditAction::MemberJoined,
        AuditAction::MemberRoleChanged,
        AuditAction::MemberRemoved,
        AuditAction::InviteRevoked,
        AuditAction::OrganizationCreated,
        AuditAction::OrganizationUpdated,
        AuditAction::WorkspaceCreated,
        AuditAction::WorkspaceRenamed,
        AuditAction::WorkspaceWriteBack,
        AuditAction::WorkspaceWriteBackRedeliver,
        AuditAction::BillingPlanChanged,
        AuditAction::BillingCreditsGranted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRotated => "token.rotated",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenFirstUse => "token.first_use",
            AuditAction::TokenScopeDenied => "token.scope_denied",
            AuditAction::AppConnected => "app.connected",
            AuditAction::AppRevoked => "app.revoked",
            AuditAction::MemberInvited => "member.invited",
            AuditAction::MemberJoined => "member.joined",
            AuditAction::MemberRoleChanged => "member.role_changed",
            AuditAction::MemberRemoved => "member.removed",
            AuditAction::InviteRevoked => "invite.revoked",
            AuditAction::OrganizationCreated => "organization.created",
            AuditAction::OrganizationUpdated => "organization.updated",
            AuditAction::WorkspaceCreated => "workspace.created",
            AuditAction::WorkspaceRenamed => "workspace.renamed",
            AuditAction::WorkspaceWriteBack => "workspace.write_back",
            AuditAction::WorkspaceWriteBackRedeliver => "workspace.write_back_redeliver",
            AuditAction::BillingPlanChanged => "billing.plan_changed",
            AuditAction::BillingCreditsGranted => "billing.credits_granted",
        }
    }

    pub fn parse(value: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "Token created",
            AuditAction::TokenRotated => "Token rotated",
            AuditAction::TokenRevoked => "Token revoked",
            AuditAction::TokenFirstUse => "Token first used",
            AuditAction::TokenScopeDenied => "Scope denied",
            AuditAction::AppConnected => "App connected",
            AuditAction::AppRevoked => "App disconnected",
            AuditAction::MemberInvited => "Member invited",
            AuditAction::MemberJoined => "Member joined",
            AuditAction::MemberRoleChanged => "Role changed",
            AuditAction::MemberRemoved => "Member removed",
            AuditAction::InviteRevoked => "Invite withdrawn",
            AuditAction::OrganizationCreated => "Organization created",
            AuditAction::OrganizationUpdated => "Organization settings changed",
            AuditAction::WorkspaceCreated => "Workspace created",
            AuditAction::WorkspaceRenamed => "Workspace renamed",
            AuditAction::WorkspaceWriteBack => "Write-back configured",
            AuditAction::WorkspaceWriteBackRedeliver => "Write-back redelivered",
            AuditAction::BillingPlanChanged => "Plan changed",
            AuditAction::BillingCreditsGranted => "Credits granted",
        }
    }
}

/// Which events of the log to show: all, or one token's, or one action's (or both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub token_id: Option<i64>,
    pub action: Option<AuditAction>,
}

impl AuditFilter {
    pub fn token(token_id: i64) -> AuditFilter {
        AuditFilter {
            token_id: Some(token_id),
            action: None,
        }
    }

    /// The query string that selects this filter (`token=12&action=token.revoked`), empty for all.
    pub fn query(self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.token_id {
            parts.push(format!("token={id}"));
        }
        if let Some(action) = self.action {
            parts.push(format!("action={}", action.as_str()));
        }
        parts.join("&")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub subject: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub token_id: Option<i64>,
    /// The token an event is about, by label and hint (`ci-bot (tg_live_ab12…)`).
    pub token: Option<String>,
    /// How many times the event happened within its minute (refusals are recorded once).
    pub repeats: i64,
}

impl AuditRow {
    /// The action's label, or its stored name for an action this version does not know.
    pub fn action_label(&self) -> String {
        AuditAction::parse(&self.action)
            .map_or_else(|| self.action.clone(), |a| a.label().to_string())
    }
}

/// A page of the audit log, newest first; `older` continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    /// The `before` of the next page, when there are older events.
    pub older: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_once() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        let filter = AuditFilter {
            token_id: Some(7),
            action: Some(AuditAction::TokenRevoked),
        };
        assert_eq!(filter.query(), "token=7&action=token.revoked");
        assert_eq!(AuditFilter::default().query(), "");
    }
}
