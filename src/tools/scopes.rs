//! The scopes in force on a call (spec §3): the token's own scopes, and for a personal token
//! only those its user's current role in the target organization may grant. A personal token
//! reaches every organization of its user, so the role it was minted under says nothing here.

use crate::model::VerifiedToken;
use crate::model::{Binding, Role, Scope};

use super::ToolError;

#[derive(Clone, Debug)]
pub struct ScopesInForce {
    held: Vec<Scope>,
    /// The user's role in the target organization, for a personal token.
    role: Option<Role>,
}

impl ScopesInForce {
    /// `role` is the token's user's role in the organization the call acts on (read at call
    /// time); it limits personal tokens only: organization and workspace tokens belong to their
    /// organization, and only its admins make them.
    pub fn new(token: &VerifiedToken, role: Option<Role>) -> ScopesInForce {
        ScopesInForce {
            held: token.scopes.clone(),
            role: role.filter(|_| token.binding == Binding::User),
        }
    }

    /// `missing_scope` unless `scope` is in force, saying so when the role is why.
    pub fn require(&self, scope: Scope) -> Result<(), ToolError> {
        let missing = |limited_by| ToolError::MissingScope {
            scope: scope.as_str(),
            limited_by,
        };
        if !self.held.contains(&scope) {
            return Err(missing(None));
        }
        match self.role {
            Some(role) if !scope.grantable_by(role) => Err(missing(Some(role))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(binding: Binding, scopes: Vec<Scope>) -> VerifiedToken {
        VerifiedToken {
            id: 1,
            org_id: 1,
            binding,
            user_id: Some(1),
            workspace_id: None,
            profile_id: None,
            scopes,
            audience: None,
        }
    }

    #[test]
    fn a_members_personal_token_keeps_read_scopes_only() {
        let all = token(Binding::User, Scope::ALL.to_vec());
        let as_member = ScopesInForce::new(&all, Some(Role::Member));
        assert_eq!(as_member.require(Scope::AnalyticsRead), Ok(()));
        for scope in [Scope::PiiRead, Scope::ReportsWrite, Scope::ConversionsWrite] {
            assert_eq!(
                as_member.require(scope),
                Err(ToolError::MissingScope {
                    scope: scope.as_str(),
                    limited_by: Some(Role::Member)
                })
            );
        }
        let as_admin = ScopesInForce::new(&all, Some(Role::Admin));
        assert!(Scope::ALL.into_iter().all(|s| as_admin.require(s).is_ok()));
    }

    #[test]
    fn a_scope_the_token_lacks_is_missing_whatever_the_role() {
        let read = token(Binding::User, vec![Scope::AnalyticsRead]);
        let scopes = ScopesInForce::new(&read, Some(Role::Owner));
        assert_eq!(
            scopes.require(Scope::ReportsWrite),
            Err(ToolError::MissingScope {
                scope: "reports:write",
                limited_by: None
            })
        );
        let member = ScopesInForce::new(&read, Some(Role::Member));
        assert_eq!(
            member.require(Scope::PiiRead),
            Err(ToolError::MissingScope {
                scope: "pii:read",
                limited_by: None
            })
        );
    }

    #[test]
    fn organization_tokens_are_not_limited_by_a_role() {
        let org = token(Binding::Organization, Scope::ALL.to_vec());
        let scopes = ScopesInForce::new(&org, Some(Role::Member));
        assert!(Scope::ALL.into_iter().all(|s| scopes.require(s).is_ok()));
    }
}
