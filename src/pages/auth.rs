//! Sign in, sign up, and the front door that sends you to one or the other.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{get_session, SignIn, SignUp};
use crate::components::{action_error, AuthCard, FormError};

#[component]
pub fn HomeRedirect() -> impl IntoView {
    let info = Resource::new_blocking(|| (), |_| get_session());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                let signed_in = matches!(info.await, Ok(Some(_)));
                view! { <Redirect path=if signed_in { "/tokens" } else { "/signin" }/> }
            })}
        </Suspense>
    }
}

fn query_value(name: &'static str) -> Signal<String> {
    let query = use_query_map();
    Signal::derive(move || query.read().get(name).unwrap_or_default())
}

#[component]
fn AuthFrame(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <AuthCard title>
            <h1>{title}</h1>
            {children()}
        </AuthCard>
    }
}

#[component]
fn InviteBanner(code: Signal<String>) -> impl IntoView {
    move || {
        (!code.get().is_empty()).then(|| {
            view! { <p class="notice notice-info">"You are accepting an invitation. Use the email address it was sent to."</p> }
        })
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let (invite, next) = (query_value("invite"), query_value("next"));
    view! {
        <AuthFrame title="Sign in">
            <InviteBanner code=invite/>
            <ActionForm action attr:class="stack" attr:aria-label="Sign in">
                <input type="hidden" name="invite" prop:value=invite value=invite/>
                <input type="hidden" name="next" prop:value=next value=next/>
                <label>"Email" <input type="email" name="email" required autocomplete="username"/></label>
                <label>"Password" <input type="password" name="password" required autocomplete="current-password"/></label>
                <FormError message=action_error(action)/>
                <button type="submit" class="button-primary">"Sign in"</button>
            </ActionForm>
            <p class="switch-auth">
                "New to Tollgate? "
                <a href=move || carrying("/signup", &invite.get(), &next.get())>"Create an account"</a>
            </p>
        </AuthFrame>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let (invite, next) = (query_value("invite"), query_value("next"));
    view! {
        <AuthFrame title="Create your account">
            <InviteBanner code=invite/>
            <ActionForm action attr:class="stack" attr:aria-label="Create account">
                <input type="hidden" name="invite" prop:value=invite value=invite/>
                <input type="hidden" name="next" prop:value=next value=next/>
                <label>"Email" <input type="email" name="email" required autocomplete="username"/></label>
                <label>
                    "Password"
                    <input type="password" name="password" required autocomplete="new-password"/>
                    <span class="hint">"At least 12 characters."</span>
                </label>
                <FormError message=action_error(action)/>
                <button type="submit" class="button-primary">"Create account"</button>
            </ActionForm>
            <p class="switch-auth">
                "Already have an account? "
                <a href=move || carrying("/signin", &invite.get(), &next.get())>"Sign in"</a>
            </p>
        </AuthFrame>
    }
}

/// `path` with the invite and the page to return to that the current page was given (both are
/// letters, digits and slashes: anything else is dropped rather than escaped).
fn carrying(path: &str, invite: &str, next: &str) -> String {
    let pairs: Vec<String> = [("invite", invite), ("next", next)]
        .into_iter()
        .filter(|(_, value)| {
            !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'/')
        })
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    match pairs.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{}", pairs.join("&")),
    }
}
