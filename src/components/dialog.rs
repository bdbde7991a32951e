//! Dialogs addressed by the page's URL (`/tokens?revoke=12`). A link or a GET form opens one,
//! so without JavaScript it is a plain page: the dialog drawn open above the page, its form a
//! plain post, Cancel a link back. With JavaScript it is a modal `<dialog>`: the browser keeps
//! focus inside it and gives focus back to what opened it when it closes; Esc, Cancel, a click
//! outside and the success of its action close it (the page leaves its URL: `leave_on_success`).

use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

/// The dialog on screen, for the Cancel inside it.
#[derive(Clone)]
struct OpenDialog {
    close_href: String,
    node: NodeRef<html::Dialog>,
}

#[component]
pub fn UrlDialog(
    /// The dialog's heading, which names it.
    #[prop(into)]
    title: String,
    /// Where closing leads: the page without the dialog's query.
    #[prop(into)]
    close_href: String,
    /// Moves each time the dialog's action succeeds: the dialog then closes (and the page
    /// leaves its URL).
    done: Leaving,
    children: Children,
) -> impl IntoView {
    let node = NodeRef::<html::Dialog>::new();
    // Drawn open by the server for the page without script; a modal once scripts run.
    Effect::new(move |_| {
        if let Some(dialog) = node.get() {
            if !dialog.matches(":modal").unwrap_or(true) {
                let _ = dialog.remove_attribute("open");
                let _ = dialog.show_modal();
            }
        }
    });
    Effect::watch(move || done.0.get(), move |_, _, _| close(node), false);
    let leave = {
        let (leave, href) = (leave_for(), close_href.clone());
        move |_| leave(&href)
    };
    // The dialog element itself is the target only of a click beside its content (its backdrop).
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if let (Some(dialog), Some(target)) = (node.get_untracked(), ev.target()) {
            let itself: &leptos::web_sys::EventTarget = dialog.as_ref();
            if target == *itself {
                dialog.close();
            }
        }
    };
    provide_context(OpenDialog { close_href, node });
    view! {
        <dialog
            open
            class="dialog"
            node_ref=node
            aria-labelledby="dialog-title"
            on:close=leave
            on:click=on_click
            on:keydown=move |ev| keep_focus_inside(node, ev)
        >
            <div class="dialog-body">
                <h2 id="dialog-title">{title}</h2>
                {children()}
            </div>
        </dialog>
    }
}

/// The successes of a dialog's action, as [`leave_on_success`] hands them to the dialog: a
/// dialog closes on its success only where the page leaves its URL too.
#[derive(Clone, Copy)]
pub struct Leaving(Signal<usize>);

/// Leaves the page's dialog for `href` each time `done` moves. The page calls it beside its
/// data, not inside: the data reloads on the same success and may draw the dialog anew (the
/// URL still names it), disposing the one that was about to close itself.
pub fn leave_on_success(done: Signal<usize>, href: impl Fn() -> &'static str + 'static) -> Leaving {
    let leave = leave_for();
    Effect::watch(move || done.get(), move |_, _, _| leave(href()), false);
    Leaving(done)
}

/// Goes to `href` unless the page is there already: a dialog closed by its success is left
/// by the page first, then closes itself.
fn leave_for() -> impl Fn(&str) + Clone + 'static {
    let navigate = use_navigate();
    let location = use_location();
    move |href: &str| {
        let (path, search) = (
            location.pathname.get_untracked(),
            location.search.get_untracked(),
        );
        let here = match search.is_empty() {
            true => path,
            false => format!("{path}?{search}"),
        };
        if here != href {
            let options = NavigateOptions {
                scroll: false,
                ..Default::default()
            };
            navigate(href, options);
        }
    }
}

/// What Tab can reach inside a dialog.
#[cfg(feature = "hydrate")]
const FOCUSABLE: &str =
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), \
    select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/// Tab from the dialog's last control goes to its first (and Shift+Tab from the first to the
/// last): a modal `<dialog>` alone lets focus leave for the browser's own controls.
#[cfg(feature = "hydrate")]
fn keep_focus_inside(node: NodeRef<html::Dialog>, ev: leptos::ev::KeyboardEvent) {
    use leptos::wasm_bindgen::JsCast;
    if ev.key() != "Tab" {
        return;
    }
    let Some(dialog) = node.get_untracked() else {
        return;
    };
    let Ok(controls) = dialog.query_selector_all(FOCUSABLE) else {
        return;
    };
    let (Some(first), Some(last)) = (
        controls.item(0),
        controls.item(controls.length().saturating_sub(1)),
    ) else {
        return;
    };
    let active: Option<leptos::web_sys::Node> = document().active_element().map(Into::into);
    let (from, to) = if ev.shift_key() {
        (first, last)
    } else {
        (last, first)
    };
    if active.as_ref() == Some(&from) {
        ev.prevent_default();
        if let Ok(to) = to.dyn_into::<leptos::web_sys::HtmlElement>() {
            let _ = to.focus();
        }
    }
}

#[cfg(not(feature = "hydrate"))]
fn keep_focus_inside(_: NodeRef<html::Dialog>, _: leptos::ev::KeyboardEvent) {}

fn close(node: NodeRef<html::Dialog>) {
    if let Some(dialog) = node.get_untracked() {
        dialog.close();
    }
}

/// Cancel: a link back to the page without script, closing the dialog with it.
#[component]
pub fn DialogCancel() -> impl IntoView {
    let OpenDialog { close_href, node } = expect_context::<OpenDialog>();
    view! {
        <a
            class="button"
            href=close_href
            data-noscroll="true"
            on:click=move |ev| {
                if node.get_untracked().is_some() {
                    ev.prevent_default();
                    close(node);
                }
            }
        >
            "Cancel"
        </a>
    }
}
