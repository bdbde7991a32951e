//! Usage against the plan.

use leptos::prelude::*;

use crate::components::PageHeader;

#[component]
pub fn UsagePage() -> impl IntoView {
    view! {
        <PageHeader title="Usage" lead="Units used against your plan's allowance."/>
        <section class="card empty-state">
            <h2>"The usage page is not built yet"</h2>
            <p>"Meters, the daily chart and the breakdowns by tool and token arrive once tools can be called."</p>
        </section>
    }
}
