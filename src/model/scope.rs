//! The scopes of spec §4: what each lets a token do, how risky it is, who may grant it.

use serde::{Deserialize, Serialize};

use super::Role;

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
    VisitorsRead,
    RealtimeRead,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeGroup {
    Read,
    Sensitive,
    Write,
}

/// A risk spec §4 marks scopes with; each has its own look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    PiiMasked,
    Sensitive,
    SpendsCredits,
    ExternalEffect,
}

impl Mark {
    pub fn label(self) -> &'static str {
        match self {
            Mark::PiiMasked => "PII (masked)",
            Mark::Sensitive => "sensitive",
            Mark::SpendsCredits => "spends credits",
            Mark::ExternalEffect => "external effect",
        }
    }

    /// Its CSS classes (style/main.css gives each its colour and symbol).
    pub fn class(self) -> &'static str {
        match self {
            Mark::PiiMasked => "mark mark-pii-masked",
            Mark::Sensitive => "mark mark-sensitive",
            Mark::SpendsCredits => "mark mark-spends-credits",
            Mark::ExternalEffect => "mark mark-external-effect",
        }
    }
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
    pub const ALL: [Scope; 11] = [
        Scope::AnalyticsRead,
        Scope::CampaignsRead,
        Scope::ConversionsRead,
        Scope::CustomersRead,
        Scope::VisitorsRead,
        Scope::RealtimeRead,
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
            Scope::VisitorsRead => "visitors:read",
            Scope::RealtimeRead => "realtime:read",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn grants(self) -> &'static str {
        match self {
            Scope::AnalyticsRead => {
                "Performance summaries, period comparisons, anomalies; website traffic"
            }
            Scope::CampaignsRead => "Campaigns, creatives, fatigue, attribution models",
            Scope::ConversionsRead => "Conversions, WhatsApp attribution",
            Scope::CustomersRead => "Customer journeys, PII masked",
            Scope::VisitorsRead => "Website visitors and their sessions, PII masked",
            Scope::RealtimeRead => "Visitors on the website in the last 5 minutes",
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
            Scope::VisitorsRead => "reads visitors (PII masked)",
            Scope::RealtimeRead => "reads live visitors",
            Scope::PiiRead => "may unmask PII",
            Scope::CreditsRead => "reads credits",
            Scope::ReportsRead => "reads reports",
            Scope::ReportsWrite => "starts reports (spends credits)",
            Scope::ConversionsWrite => "sends conversions out",
        }
    }

    /// The mark spec §4 puts beside the scope.
    pub fn mark(self) -> Option<Mark> {
        match self {
            _ if self.reads_people() => Some(Mark::PiiMasked),
            Scope::PiiRead => Some(Mark::Sensitive),
            Scope::ReportsWrite => Some(Mark::SpendsCredits),
            Scope::ConversionsWrite => Some(Mark::ExternalEffect),
            _ => None,
        }
    }

    /// New tokens start with the read scopes that hold no personal data (least privilege:
    /// `customers:read` and `visitors:read` are a click away, `pii:read` is not a read scope).
    pub fn is_default(self) -> bool {
        self.group() == ScopeGroup::Read && !self.reads_people()
    }

    /// Whether a key bound to one profile can use it: what the endpoints and tools of one
    /// profile need (`tools::ToolSpec::for_profile_keys`, tested to agree), and `pii:read`.
    pub fn for_profile_keys(self) -> bool {
        !matches!(
            self,
            Scope::CreditsRead | Scope::ReportsRead | Scope::ReportsWrite | Scope::ConversionsWrite
        )
    }

    /// Whether it reads records of people (masked unless `pii:read` unmasks them).
    pub fn reads_people(self) -> bool {
        matches!(self, Scope::CustomersRead | Scope::VisitorsRead)
    }

    /// Members may grant read scopes only; `pii:read` and write scopes need an admin or owner.
    pub fn grantable_by(self, role: Role) -> bool {
        role.is_admin() || self.group() == ScopeGroup::Read
    }
}
