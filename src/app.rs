//! The HTML shell and the route table of the dashboard.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::components::layout::DashboardLayout;
use crate::pages::{
    audit::AuditPage,
    auth::{HomeRedirect, SignInPage, SignUpPage},
    billing::BillingSettings,
    connected_apps::ConnectedAppsPage,
    consent::{AuthorizeFailedPage, ConsentPage},
    invite::InvitePage,
    not_found::NotFound,
    settings::{MembersSettings, OrganizationSettings, WorkspacesSettings},
    tokens::{TokenPage, TokensPage},
    usage::UsagePage,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Scripts run only from our origin or with this response's nonce (the hydration bootstrap);
/// WASM may compile; nothing may frame the dashboard.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Every route renders with SsrMode::Async: the page waits for its data before the HTML is
    // sent, so the dashboard is complete without JavaScript; hydration then takes over.
    view! {
        <Stylesheet id="leptos" href="/pkg/tollgate.css"/>
        <Title formatter=|page: String| format!("{page} · Tollgate")/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("") view=HomeRedirect ssr=SsrMode::Async/>
                <Route path=path!("signin") view=SignInPage ssr=SsrMode::Async/>
                <Route path=path!("signup") view=SignUpPage ssr=SsrMode::Async/>
                <Route path=path!("invite/:code") view=InvitePage ssr=SsrMode::Async/>
                <Route path=path!("consent/:id") view=ConsentPage ssr=SsrMode::Async/>
                <Route path=path!("authorize/failed") view=AuthorizeFailedPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=path!("tokens") view=TokensPage ssr=SsrMode::Async/>
                    <Route path=path!("tokens/:id") view=TokenPage ssr=SsrMode::Async/>
                    <Route path=path!("connected-apps") view=ConnectedAppsPage ssr=SsrMode::Async/>
                    <Route path=path!("usage") view=UsagePage ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("settings/organization") view=OrganizationSettings ssr=SsrMode::Async/>
                    <Route path=path!("settings/workspaces") view=WorkspacesSettings ssr=SsrMode::Async/>
                    <Route path=path!("settings/members") view=MembersSettings ssr=SsrMode::Async/>
                    <Route path=path!("settings/billing") view=BillingSettings ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
