//! Settings › Billing (owners): the plan, and the token cap it brings, and credit grants.
//! Both move money, so each asks first: its form opens a confirmation (`?plan=growth`,
//! `?grant=250&note=…`) that names exactly what will happen.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::billing::{ChangePlan, GrantCredits};
use crate::api::usage::get_usage;
use crate::components::dialog::{leave_on_success, DialogCancel, Leaving, UrlDialog};
use crate::components::{
    action_error, announce, grouping, successes, FormError, Loaded, PageHeader, Renewed, StatusLine,
};
use crate::model::{OrgSummary, Plan, UsagePage, MAX_CREDIT_GRANT};
use crate::pages::usage::used_of_allowance;

const HERE: &str = "/settings/billing";

#[component]
pub fn BillingSettings() -> impl IntoView {
    let g = grouping();
    let change = ServerAction::<ChangePlan>::new();
    let grant = ServerAction::<GrantCredits>::new();
    let status = RwSignal::new(None::<String>);
    announce(change, status, |input, _| {
        let plan = Plan::parse(&input.plan).map_or("the new plan", |p| p.label());
        format!("Switched to {plan}. Its allowance and token cap apply from now on.")
    });
    announce(grant, status, move |input, balance| {
        format!(
            "Granted {} credits. The balance is {}.",
            g.count(input.amount),
            g.count(*balance)
        )
    });
    let (changed, granted) = (successes(change), successes(grant));
    let (plan_done, grant_done) = (
        leave_on_success(changed, || HERE),
        leave_on_success(granted, || HERE),
    );
    let usage = Resource::new_blocking(move || (changed.get(), granted.get()), |_| get_usage());
    let query = use_query_map();
    view! {
        <PageHeader title="Billing" lead="Your plan and credits. There is no payment provider: owners change them here."/>
        <StatusLine status/>
        <Loaded data=usage view=move |u: UsagePage| view! {
                <section class="card">
                    <dl class="facts">
                        <div><dt>"Plan"</dt><dd data-testid="current-plan">{u.plan.label()}</dd></div>
                        <div><dt>"Units this period"</dt><dd>{used_of_allowance(g, u.used, u.allowance)}</dd></div>
                        <div><dt>"Credits"</dt><dd data-testid="billing-credits">{g.count(u.credit_balance)}</dd></div>
                    </dl>
                </section>
                {move || {
                    let q = query.get();
                    if let Some(plan) = q.get("plan") {
                        return Some(view! { <PlanDialog plan used=u.used change done=plan_done/> }.into_any());
                    }
                    q.get("grant").map(|amount| {
                        let note = q.get("note").unwrap_or_default();
                        view! { <GrantDialog amount note grant done=grant_done/> }.into_any()
                    })
                }}
            }
            .into_any()/>
        <section class="card">
            <h2>"Change plan"</h2>
            <Renewed done=changed>
                    <Form method="get" action=HERE attr:class="stack" attr:aria-label="Change plan">
                        {Plan::ALL
                            .into_iter()
                            .filter(|p| *p != Plan::Trial)
                            .map(|p| view! {
                                <label class="check">
                                    <input type="radio" name="plan" value=p.as_str() required/>
                                    <span><strong>{p.label()}</strong><br/><span class="hint">{p.blurb(g)}</span></span>
                                </label>
                            })
                            .collect_view()}
                        <button type="submit" class="button-primary">"Change plan…"</button>
                    </Form>
            </Renewed>
        </section>
        <section class="card">
            <h2>"Grant credits"</h2>
            <Renewed done=granted>
                    <Form method="get" action=HERE attr:class="inline-form" attr:aria-label="Grant credits">
                        <label>"Credits" <input type="number" name="grant" min="1" max=MAX_CREDIT_GRANT.to_string() required/></label>
                        <label class="grow">"Note" <input name="note" maxlength="120" placeholder="e.g. Invoice 2026-11"/></label>
                        <button type="submit" class="button-primary">"Grant…"</button>
                    </Form>
            </Renewed>
        </section>
    }
}

#[component]
fn PlanDialog(
    plan: String,
    used: i64,
    change: ServerAction<ChangePlan>,
    done: Leaving,
) -> impl IntoView {
    let g = grouping();
    let chosen = Plan::parse(&plan).filter(|p| *p != Plan::Trial);
    let title = chosen.map_or_else(
        || "Change plan".to_string(),
        |p| format!("Switch to {}?", p.label()),
    );
    view! {
        <UrlDialog title close_href=HERE done>
            {match chosen {
                None => view! {
                    <p class="notice notice-error" role="alert">"Choose Starter, Growth, Agency or Enterprise."</p>
                    <div class="dialog-actions"><DialogCancel/></div>
                }
                .into_any(),
                Some(p) => view! {
                    <p>{p.blurb(g)}"."</p>
                    <p>{format!(
                        "It takes effect at once. This period keeps its dates, and the {} units already used count against the new allowance.",
                        g.count(used)
                    )}</p>
                    <ActionForm action=change attr:class="dialog-form">
                        <input type="hidden" name="plan" value=p.as_str()/>
                        <FormError message=action_error(change)/>
                        <div class="dialog-actions">
                            <DialogCancel/>
                            <button type="submit" class="button-primary">{format!("Switch to {}", p.label())}</button>
                        </div>
                    </ActionForm>
                }
                .into_any(),
            }}
        </UrlDialog>
    }
}

#[component]
fn GrantDialog(
    amount: String,
    note: String,
    grant: ServerAction<GrantCredits>,
    done: Leaving,
) -> impl IntoView {
    let g = grouping();
    let org = use_context::<OrgSummary>()
        .map(|o| o.name)
        .unwrap_or_default();
    let amount = amount
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|a| (1..=MAX_CREDIT_GRANT).contains(a));
    view! {
        <UrlDialog title="Grant credits" close_href=HERE done>
            {match amount {
                None => view! {
                    <p class="notice notice-error" role="alert">{format!("Grant between 1 and {} credits.", g.count(MAX_CREDIT_GRANT))}</p>
                    <div class="dialog-actions"><DialogCancel/></div>
                }
                .into_any(),
                Some(amount) => view! {
                    <p>{format!("Add {} credits to {org}?", g.count(amount))}</p>
                    {(!note.trim().is_empty()).then(|| view! { <p class="hint">{format!("Note: {note}")}</p> })}
                    <ActionForm action=grant attr:class="dialog-form">
                        <input type="hidden" name="amount" value=amount.to_string()/>
                        <input type="hidden" name="note" value=note.clone()/>
                        <FormError message=action_error(grant)/>
                        <div class="dialog-actions">
                            <DialogCancel/>
                            <button type="submit" class="button-primary">{format!("Grant {} credits", g.count(amount))}</button>
                        </div>
                    </ActionForm>
                }
                .into_any(),
            }}
        </UrlDialog>
    }
}
