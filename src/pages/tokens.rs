//! Developer › Tokens.

use leptos::prelude::*;

use crate::components::PageHeader;

#[component]
pub fn TokensPage() -> impl IntoView {
    view! {
        <PageHeader title="Tokens" lead="Scoped access tokens for MCP clients and scripts."/>
        <section class="card empty-state">
            <h2>"Token management is not built yet"</h2>
            <p>
                "Creating, rotating and revoking tokens arrives in the next release. "
                "Your organization, its workspaces and its members are ready for it."
            </p>
        </section>
    }
}
