//! Pieces the dashboard pages share.

pub mod layout;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::error::AppError;

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
