//! The page an invite link opens: who invites you to what, and the way in.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::auth::get_session;
use crate::api::organizations::{get_invite, AcceptInvite};
use crate::components::{action_error, AuthCard, FormError};
use crate::model::InviteState;

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let code = move || params.read().get("code").unwrap_or_default();
    let data = Resource::new_blocking(code, |code| async move {
        (get_invite(code).await, get_session().await)
    });
    let accept = ServerAction::<AcceptInvite>::new();
    view! {
        <AuthCard title="Invitation">
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let code = code();
                        match data.await {
                            (Err(e), _) => view! {
                                <h1>"Invitation"</h1>
                                <p class="notice notice-error">{e.to_string()}</p>
                            }
                            .into_any(),
                            (Ok(invite), session) => {
                                let signed_in = matches!(session, Ok(Some(_)));
                                let open = invite.state == InviteState::Open;
                                view! {
                                    <h1>{format!("Join {}", invite.org_name)}</h1>
                                    <p>
                                        "This invitation is for " <strong>{invite.email.clone()}</strong>
                                        " to join as " <strong>{invite.role.label()}</strong> "."
                                    </p>
                                    {match (open, signed_in) {
                                        (false, _) => view! {
                                            <p class="notice notice-error">{state_message(invite.state)}</p>
                                        }
                                        .into_any(),
                                        (true, true) => view! {
                                            <ActionForm action=accept attr:class="stack">
                                                <input type="hidden" name="code" value=code.clone()/>
                                                <FormError message=action_error(accept)/>
                                                <button type="submit" class="button-primary">"Accept invitation"</button>
                                            </ActionForm>
                                        }
                                        .into_any(),
                                        (true, false) => view! {
                                            <div class="stack">
                                                <a class="button button-primary" href=format!("/signup?invite={code}")>
                                                    "Create an account to join"
                                                </a>
                                                <a class="button" href=format!("/signin?invite={code}")>
                                                    "I have an account: sign in"
                                                </a>
                                            </div>
                                        }
                                        .into_any(),
                                    }}
                                }
                                .into_any()
                            }
                        }
                    })}
                </Suspense>
        </AuthCard>
    }
}

fn state_message(state: InviteState) -> &'static str {
    match state {
        InviteState::Open => "",
        InviteState::Accepted => "This invitation has already been used.",
        InviteState::Revoked => "This invitation was withdrawn. Ask an admin for a new one.",
        InviteState::Expired => "This invitation has expired. Ask an admin for a new one.",
    }
}
