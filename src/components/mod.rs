//! Pieces the dashboard pages share.

pub mod dialog;
pub mod layout;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::error::AppError;
use crate::model::Grouping;

/// How the signed-in reader groups thousands (provided by the dashboard's frame).
pub fn grouping() -> Grouping {
    use_context::<Grouping>().unwrap_or_default()
}

/// How many times `action` has succeeded since the page loaded: dialogs close and forms clear
/// when it moves.
pub fn successes<S>(action: ServerAction<S>) -> Signal<usize>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let count = RwSignal::new(0usize);
    Effect::watch(
        move || action.version().get(),
        move |_, _, _| {
            if action.value().with_untracked(|v| matches!(v, Some(Ok(_)))) {
                count.update(|n| *n += 1);
            }
        },
        false,
    );
    count.into()
}

/// Puts a sentence saying what `action` just did into `status` each time it succeeds (and
/// clears it when it fails: the form's error says why). `say` reads the action's input, kept
/// from when it was dispatched, and its output.
pub fn announce<S>(
    action: ServerAction<S>,
    status: RwSignal<Option<String>>,
    say: impl Fn(&S, &S::Output) -> String + Send + Sync + 'static,
) where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let sent = StoredValue::new(None::<S>);
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            sent.set_value(Some(input));
        }
    });
    Effect::watch(
        move || action.version().get(),
        move |_, _, _| {
            let said = action.value().with_untracked(|value| match value {
                Some(Ok(output)) => sent.with_value(|input| input.as_ref().map(|i| say(i, output))),
                _ => None,
            });
            status.set(said);
        },
        false,
    );
}

/// Draws its children anew each time `done` moves, so that a form inside starts empty after
/// its action succeeded: redrawing in place would keep what the browser holds (typed text, a
/// checked radio).
#[component]
pub fn Renewed(done: Signal<usize>, children: ChildrenFn) -> impl IntoView {
    view! { <For each=move || [done.get()] key=|n| *n children=move |_| children()/> }
}

/// The page's live region: what the last action did, announced to screen readers.
#[component]
pub fn StatusLine(status: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <div role="status" class="status-line" data-testid="status">
            {move || status.get().map(|m| view! { <p class="notice notice-ok">{m}</p> })}
        </div>
    }
}

/// The error message of an action's last run, if it failed.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<String>>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || match action.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    })
}

/// Whether an action's last run succeeded.
pub fn action_succeeded<S>(action: ServerAction<S>) -> Signal<bool>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || matches!(action.value().get(), Some(Ok(_))))
}

#[component]
pub fn FormError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <p class="notice notice-error" role="alert">{m}</p> })
    }
}

#[component]
pub fn PageHeader(title: &'static str, #[prop(optional)] lead: &'static str) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title/>
        <header class="page-header">
            <h1>{title}</h1>
            {(!lead.is_empty()).then(|| view! { <p class="lead">{lead}</p> })}
        </header>
    }
}

/// Renders a loaded page, or its error (with a sign-in link when the session ended).
pub fn page_error(err: AppError) -> AnyView {
    let signed_out = err == AppError::SignInRequired;
    view! {
        <div class="notice notice-error" role="alert">
            <p>{err.to_string()}</p>
            {signed_out.then(|| view! { <a href="/signin">"Sign in"</a> })}
        </div>
    }
    .into_any()
}

/// A page's data: "Loading…" while it comes, then the page `view` draws from it, or what went
/// wrong (with a way to sign in when that is what is missing).
#[component]
pub fn Loaded<T>(
    data: Resource<Result<T, AppError>>,
    #[prop(into)] view: Callback<T, AnyView>,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => page_error(e),
                    Ok(data) => view.run(data),
                }
            })}
        </Suspense>
    }
}

/// A scope as a checkbox's label: its name, its mark (PII, spends credits…), what it grants,
/// whether the user's role keeps it from them, and any note of the form's (`children`).
#[component]
pub fn ScopeLabel(
    scope: crate::model::Scope,
    allowed: bool,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <span>
            <code>{scope.as_str()}</code>
            <ScopeMark scope/>
            <br/>
            <span class="hint">{scope.grants()}</span>
            {(!allowed).then(|| view! { <span class="hint">" (admins and owners only)"</span> })}
            {children.map(|note| note())}
        </span>
    }
}

/// The risk mark beside a scope, if it has one.
#[component]
pub fn ScopeMark(scope: crate::model::Scope) -> impl IntoView {
    scope
        .mark()
        .map(|m| view! { <span class=m.class()>{m.label()}</span> })
}

/// A list row's scopes cell: the summary, every scope in its title.
#[component]
pub fn ScopesCell(token: crate::model::TokenView) -> impl IntoView {
    let all = token
        .scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! { <td data-label="Scopes"><span title=all>{token.scopes_summary()}</span></td> }
}

/// A list row's last-use cell: how long ago, and by which client; or "Never".
#[component]
pub fn LastUsedCell(token: crate::model::TokenView, now: i64) -> impl IntoView {
    use crate::model::{ago, format_time, iso_time};
    view! {
        <td data-label="Last used">
            {match token.last_used_at {
                Some(at) => view! {
                    <time datetime=iso_time(at) title=format_time(at)>{ago(at, now)}</time>
                    {token.last_client.clone().map(|c| view! { <br/><span class="hint">{c}</span> })}
                }
                .into_any(),
                None => view! { <span class="hint">"Never"</span> }.into_any(),
            }}
        </td>
    }
}

/// The options of a Reach select, the first (the narrowest) chosen.
#[component]
pub fn ReachOptions(reaches: Vec<(crate::model::Reach, String, String)>) -> impl IntoView {
    reaches
        .into_iter()
        .enumerate()
        .map(
            |(i, (r, label, _))| view! { <option value=r.value() selected=i == 0>{label}</option> },
        )
        .collect_view()
}

/// The centred card of the signed-out pages.
#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title/>
        <main class="auth-page">
            <div class="auth-card">
                <p class="brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    "Tollgate"
                </p>
                {children()}
            </div>
        </main>
    }
}

/// A button that copies `text`; its `label` becomes "Copied" once it is on the clipboard.
#[component]
pub fn CopyButton(text: String, label: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window().navigator().clipboard().write_text(&text);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="button-quiet" on:click=copy>
            {move || if copied.get() { "Copied" } else { label }}
        </button>
    }
}
