//! The new token, shown once: focused and in view when it appears, with client snippets that
//! read it from an environment variable, a warning before the page is left while it is shown,
//! and closed only by "I have saved it".

use leptos::html;
use leptos::prelude::*;

use crate::components::CopyButton;
use crate::model::RevealedToken;

/// The ready-made client configurations for a server at `url`. The Claude Code line keeps
/// `${TOLLGATE_TOKEN}` in single quotes: the shell passes it on unexpanded, so the token never
/// lands in Claude's configuration (which expands it when it connects).
pub fn snippets(url: &str) -> [(&'static str, String); 3] {
    [
        (
            "Claude Code",
            format!(
                "export TOLLGATE_TOKEN=…   # the token above\nclaude mcp add --transport http tollgate {url}/mcp --header 'Authorization: Bearer ${{TOLLGATE_TOKEN}}'"
            ),
        ),
        (
            ".mcp.json",
            format!(
                "{{\n  \"mcpServers\": {{\n    \"tollgate\": {{\n      \"type\": \"http\",\n      \"url\": \"{url}/mcp\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{TOLLGATE_TOKEN}}\" }}\n    }}\n  }}\n}}"
            ),
        ),
        (
            "curl",
            format!(
                "curl -X POST {url}/v1/tools/list_workspaces \\\n  -H \"Authorization: Bearer $TOLLGATE_TOKEN\" \\\n  -H \"Content-Type: application/json\" -d '{{}}'"
            ),
        ),
    ]
}

#[component]
pub fn Reveal(token: RevealedToken, on_close: Callback<()>) -> impl IntoView {
    let heading = NodeRef::<html::H2>::new();
    // Focus and view move to the token as it appears (the form is further down), in the next
    // frame: after a rotation's dialog has closed and given focus back to its opener.
    Effect::new(move |_| {
        if heading.get().is_some() {
            request_animation_frame(move || {
                if let Some(heading) = heading.get_untracked() {
                    let _ = heading.focus();
                    heading.scroll_into_view();
                }
            });
        }
    });
    // Leaving the page while the token is shown loses it for good: the browser asks first.
    let leave_guard = window_event_listener(leptos::ev::beforeunload, |event| {
        event.prevent_default();
    });
    on_cleanup(move || leave_guard.remove());
    view! {
        <section class="card reveal" aria-labelledby="reveal-title" data-testid="reveal">
            <h2 id="reveal-title" tabindex="-1" node_ref=heading>{format!("Your new token “{}”", token.label)}</h2>
            <p class="notice notice-warn" role="status">
                "Copy it now: it will not be shown again. Tollgate keeps only a fingerprint of it."
            </p>
            <div class="copy-row">
                <input class="copy-field" readonly value=token.token.clone() aria-label="New token" data-testid="new-token"/>
                <CopyButton text=token.token.clone() label="Copy token"/>
            </div>
            <p class="hint">
                "Store it as " <code>"TOLLGATE_TOKEN"</code>
                " in your shell or secret manager; these snippets read it from there, so the token never lands in a config file."
            </p>
            {snippets(&token.public_url)
                .into_iter()
                .map(|(title, text)| view! {
                    <div class="snippet-head">
                        <h3>{title}</h3>
                        <CopyButton text=text.clone() label="Copy snippet"/>
                    </div>
                    <pre class="snippet" data-testid=format!("snippet-{}", title.to_lowercase().replace([' ', '.'], ""))>{text}</pre>
                })
                .collect_view()}
            <button type="button" class="button-primary" on:click=move |_| on_close.run(())>
                "I have saved it"
            </button>
        </section>
    }
}
