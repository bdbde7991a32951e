//! The create-token form: one Reach control (the reach chosen is the reach made), scopes
//! grouped by risk with the spec's defaults, an expiry, and a live one-line summary of what
//! the token will be able to do. A failed submit keeps every field as typed.

use leptos::prelude::*;

use crate::api::tokens::CreateToken;
use crate::components::{action_error, FormError, ReachOptions, ScopeLabel};
use crate::model::{short_date, Reach, Scope, ScopeGroup, TokensPage, DAY_MS};

/// "Reads analytics, campaigns · starts reports (spends credits) · in Client B · expires
/// 3 Mar 2027": what a token of these choices will be able to do.
pub fn summary(scopes: &[Scope], reach: &str, expires: Option<i64>) -> String {
    let reads: Vec<&str> = scopes
        .iter()
        .filter_map(|s| s.summary().strip_prefix("reads "))
        .collect();
    let mut parts = Vec::new();
    if !reads.is_empty() {
        parts.push(format!("Reads {}", reads.join(", ")));
    }
    parts.extend(
        scopes
            .iter()
            .map(|s| s.summary())
            .filter(|s| !s.starts_with("reads "))
            .map(String::from),
    );
    if parts.is_empty() {
        parts.push("Can do nothing yet: choose a scope".into());
    }
    parts.push(reach.to_string());
    parts.push(match expires {
        Some(at) => format!("expires {}", short_date(at)),
        None => "never expires".into(),
    });
    parts.join(" · ")
}

/// When a token made now with `expiry` (the form's value) would stop; None: never or unknown.
fn expiry_of(expiry: &str, date: &str, now: i64) -> Option<i64> {
    match expiry {
        "date" => crate::model::end_of_date(date),
        days => days.parse::<i64>().ok().map(|d| now + d * DAY_MS),
    }
}

#[component]
pub fn CreateForm(page: TokensPage, create: ServerAction<CreateToken>) -> impl IntoView {
    let role = page.my_role;
    let admin = role.is_admin();
    let remaining = move |n: Option<i64>| match n {
        None => "no limit on this plan".to_string(),
        Some(n) => format!("{n} more can be active"),
    };
    // The narrowest reach is the default: an admin's first workspace; a member's only choice.
    let mut reaches = Reach::choices(admin, &page.workspaces);
    reaches.extend(Reach::profile_choices(&page.profiles));
    let default_reach = reaches[0].0.value();
    // A key for one profile starts with the API's defaults (spec §12) and cannot hold the
    // scopes no endpoint of one profile needs.
    let for_profile = |value: &str| matches!(Reach::parse(value), Some(Reach::Profile(_)));
    let defaults = move |profile: bool| -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| s.is_default() && s.grantable_by(role))
            .filter(|s| !profile || s.for_profile_keys())
            .collect()
    };
    let default_scopes = defaults(for_profile(&default_reach));
    let initially_checked = default_scopes.clone();
    let reach = RwSignal::new(default_reach.clone());
    let scopes = RwSignal::new(default_scopes.clone());
    let expiry = RwSignal::new("90".to_string());
    let expiry_date = RwSignal::new(String::new());
    // A token was made: the form starts over (a second click must not make a second token).
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
            reach.set(default_reach.clone());
            scopes.set(default_scopes.clone());
            expiry.set("90".into());
            expiry_date.set(String::new());
        }
    });
    let now = page.now;
    let reach_phrases: Vec<(String, String)> = reaches
        .iter()
        .map(|(r, _, phrase)| (r.value(), phrase.clone()))
        .collect();
    let summary_text = move || {
        let chosen = reach.get();
        let phrase = reach_phrases
            .iter()
            .find(|(value, _)| *value == chosen)
            .map(|(_, phrase)| phrase.as_str())
            .unwrap_or_default();
        let mut chosen_scopes = scopes.get();
        chosen_scopes.sort_by_key(|s| Scope::ALL.iter().position(|a| a == s));
        summary(
            &chosen_scopes,
            phrase,
            expiry_of(&expiry.get(), &expiry_date.get(), now),
        )
    };
    let groups = [ScopeGroup::Read, ScopeGroup::Sensitive, ScopeGroup::Write];
    view! {
        <section class="card">
            <h2>"Create a token"</h2>
            <ActionForm action=create node_ref=form attr:class="stack" attr:aria-label="Create token">
                <label>
                    "Label"
                    <input name="label" required maxlength="60" placeholder="e.g. claude-code-laptop"/>
                    <span class="hint">"Name it after the client or agent that will use it."</span>
                </label>
                <label>
                    "Reach"
                    <select name="reach" on:change=move |ev| {
                        let chosen = event_target_value(&ev);
                        if for_profile(&chosen) != for_profile(&reach.get_untracked()) {
                            scopes.set(defaults(for_profile(&chosen)));
                        }
                        reach.set(chosen);
                    }>
                        <ReachOptions reaches=reaches.clone()/>
                    </select>
                    <span class="hint">
                        {format!(
                            "Personal tokens are checked at each call: leaving an organization cuts them off. Personal: {}.",
                            remaining(page.personal_remaining)
                        )}
                        {admin.then(|| format!(" Organization and workspace tokens: {}.", remaining(page.organization_remaining)))}
                    </span>
                </label>
                <fieldset class="scopes-picker">
                    <legend>"Scopes"</legend>
                    {groups
                        .into_iter()
                        .map(|group| view! {
                            <div class="scope-group">
                                <p class="scope-group-title">{group.label()}</p>
                                {Scope::ALL
                                    .into_iter()
                                    .enumerate()
                                    .filter(|(_, s)| s.group() == group)
                                    .map(|(i, s)| {
                                        let allowed = s.grantable_by(role);
                                        let unusable = move || {
                                            for_profile(&reach.get()) && !s.for_profile_keys()
                                        };
                                        let toggle = move |ev| {
                                            let on = event_target_checked(&ev);
                                            scopes.update(|list| {
                                                list.retain(|x| *x != s);
                                                if on {
                                                    list.push(s);
                                                }
                                            });
                                        };
                                        view! {
                                            <label class="check">
                                                <input
                                                    type="checkbox"
                                                    name=format!("scopes[{i}]")
                                                    value=s.as_str()
                                                    checked=initially_checked.contains(&s)
                                                    prop:checked=move || scopes.get().contains(&s)
                                                    disabled=move || !allowed || unusable()
                                                    on:change=toggle
                                                />
                                                <ScopeLabel scope=s allowed>
                                                    {move || unusable().then(|| view! {
                                                        <span class="hint">" (not for one profile's key)"</span>
                                                    })}
                                                </ScopeLabel>
                                            </label>
                                        }
                                    })
                                    .collect_view()}
                            </div>
                        })
                        .collect_view()}
                </fieldset>
                <div class="inline-form">
                    <label>
                        "Expires"
                        <select name="expiry" on:change=move |ev| expiry.set(event_target_value(&ev))>
                            <option value="none">"Never"</option>
                            <option value="7">"In 7 days"</option>
                            <option value="30">"In 30 days"</option>
                            <option value="90" selected=true>"In 90 days"</option>
                            <option value="date">"On a date…"</option>
                        </select>
                    </label>
                    <label>
                        "Date (if chosen)"
                        <input type="date" name="expiry_date" on:input=move |ev| expiry_date.set(event_target_value(&ev))/>
                    </label>
                </div>
                <p class="token-summary" data-testid="token-summary" aria-live="polite">{summary_text}</p>
                <FormError message=action_error(create)/>
                <button type="submit" class="button-primary">"Create token"</button>
            </ActionForm>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_the_token_does_where_and_until_when() {
        let at = crate::model::end_of_date("2027-03-03").unwrap();
        assert_eq!(
            summary(
                &[Scope::AnalyticsRead, Scope::CampaignsRead, Scope::ReportsWrite],
                "in Client B",
                Some(at)
            ),
            "Reads analytics, campaigns · starts reports (spends credits) · in Client B · expires 3 Mar 2027"
        );
        assert_eq!(
            summary(&[], "in Client B", None),
            "Can do nothing yet: choose a scope · in Client B · never expires"
        );
    }
}
