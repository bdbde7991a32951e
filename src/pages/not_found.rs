use leptos::prelude::*;

use crate::components::AuthCard;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <AuthCard title="Not found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <a href="/tokens">"Go to the dashboard"</a>
        </AuthCard>
    }
}
