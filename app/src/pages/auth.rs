//! Sign up, sign in, accept an invite. These pages work before the bundle hydrates (plain
//! form posts) and after.

use crate::api::{get_me, invite_info, AcceptInvite, Login, Logout, Signup};
use crate::components::{ActionError, FieldError, LoadError};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
fn AuthFrame(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="auth-page">
            <main class="auth-card" id="content">
                <p class="brand">"Partner Ledger"</p>
                <h1>{title}</h1>
                {children()}
            </main>
        </div>
    }
}

/// Sends signed-in visitors of the sign-in pages to the dashboard.
#[component]
fn RedirectIfSignedIn() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                matches!(me.await, Ok(Some(_))).then(|| view! { <Redirect path="/"/> })
            })}
        </Suspense>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let value = login.value();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <RedirectIfSignedIn/>
        <AuthFrame title="Sign in">
            <ActionForm action=login attr:class="form" attr:id="login-form">
                <input type="hidden" name="next" value=next/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required autofocus/>
                <FieldError value field="email"/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <ActionError value/>
                <button type="submit" class="button primary" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <p class="muted">"New to Partner Ledger? " <a href="/signup">"Create an organization"</a></p>
        </AuthFrame>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let signup = ServerAction::<Signup>::new();
    let value = signup.value();
    view! {
        <RedirectIfSignedIn/>
        <AuthFrame title="Create your organization">
            <ActionForm action=signup attr:class="form" attr:id="signup-form">
                <label for="organization">"Organization name"</label>
                <input id="organization" name="organization" type="text" autocomplete="organization" required/>
                <FieldError value field="organization"/>
                <label for="email">"Your email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required/>
                <FieldError value field="email"/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password" required minlength="10"
                    aria-describedby="password-help"/>
                <span class="help" id="password-help">"At least 10 characters."</span>
                <FieldError value field="password"/>
                <ActionError value/>
                <button type="submit" class="button primary" disabled=move || signup.pending().get()>"Create organization"</button>
            </ActionForm>
            <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p>
        </AuthFrame>
    }
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let info = Resource::new(token, invite_info);
    let accept = ServerAction::<AcceptInvite>::new();
    let logout = ServerAction::<Logout>::new();
    let value = accept.value();
    view! {
        <AuthFrame title="Join an organization">
            <Suspense fallback=crate::components::loading>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(i) => {
                            let invited = i.email.clone();
                            let intro = view! {
                                <p>"You were invited as " <strong>{i.role.clone()}</strong> " with " <strong>{i.email.clone()}</strong> "."</p>
                            };
                            match i.signed_in_as {
                                // Signed in as the invited address: join with this account.
                                Some(me) if me.eq_ignore_ascii_case(&invited) => view! {
                                    {intro}
                                    <p class="muted">"You are signed in as " {me.clone()} "."</p>
                                    <ActionForm action=accept attr:class="form">
                                        <input type="hidden" name="token" value=token()/>
                                        <ActionError value/>
                                        <button type="submit" class="button primary">"Join"</button>
                                    </ActionForm>
                                }.into_any(),
                                Some(me) => view! {
                                    {intro}
                                    <p class="notice" role="status">"You are signed in as " <strong>{me.clone()}</strong>
                                        ". This invite is for " <strong>{invited.clone()}</strong> ": sign out, then open this link again."</p>
                                    <ActionForm action=logout attr:class="form">
                                        <button type="submit" class="button">"Sign out"</button>
                                    </ActionForm>
                                }.into_any(),
                                None => {
                                    let next = format!("/login?next=/invite/{}", token());
                                    view! {
                                        {intro}
                                        <ActionForm action=accept attr:class="form">
                                            <input type="hidden" name="token" value=token()/>
                                            <label for="password">"Choose a password (at least 10 characters)"</label>
                                            <input id="password" name="password" type="password" required minlength="10" autocomplete="new-password"/>
                                            <FieldError value field="password"/>
                                            <ActionError value/>
                                            <button type="submit" class="button primary">"Join"</button>
                                        </ActionForm>
                                        <p class="muted">"Already have an account with this address? "
                                            <a href=next>"Sign in"</a> " first, then join with it."</p>
                                    }.into_any()
                                }
                            }
                        }
                        Err(crate::error::AppError::NotFound) => view! {
                            <p class="error" role="alert">"This invite link is not valid: it was already used, has expired, or was revoked. Ask your admin for a new one."</p>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AuthFrame>
    }
}
