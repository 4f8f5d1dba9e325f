//! Settings: team (members, roles, invites), API keys, and the user's account.

use crate::api::{
    get_retention, get_team, list_api_keys, ChangePassword, CreateApiKey, CreateOrg, DeleteOrg,
    InviteMember, RemoveMember, RevokeApiKey, RevokeInvite, SetAttributionWindow, SetRetention,
    SetRole,
};
use crate::components::{
    can_write, loading, time, use_me, ActionError, ConfirmButton, FieldError, LoadError,
};
use crate::model::Role;
use leptos::prelude::*;

#[component]
pub fn TeamPage() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let set_role = ServerAction::<SetRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let data = Resource::new(
        move || {
            (
                invite.version().get(),
                revoke.version().get(),
                set_role.version().get(),
                remove.version().get(),
            )
        },
        |_| get_team(),
    );
    let writer = can_write();
    let me = use_me();
    let my_id = me.as_ref().map(|m| m.user_id.clone()).unwrap_or_default();
    let is_owner = me.as_ref().is_some_and(|m| m.role == Role::Owner);
    let value = invite.value();
    view! {
        <h1>"Team"</h1>
        {writer.then(|| view! {
            <section class="card">
                <h2>"Invite a member"</h2>
                <ActionForm action=invite attr:class="form inline-form" attr:id="invite-form">
                    <label for="invite-email">"Email"</label>
                    <input id="invite-email" name="email" type="email" required/>
                    <FieldError value field="email"/>
                    <label for="invite-role">"Role"</label>
                    <select id="invite-role" name="role">
                        <option value="viewer">"Viewer (read-only)"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                    <FieldError value field="role"/>
                    <ActionError value/>
                    <button type="submit" class="button primary">"Create invite link"</button>
                </ActionForm>
                {move || value.get().and_then(|r| r.ok()).map(|link| view! {
                    <crate::components::CopyField value=link label="One-time invite link (valid 7 days): hand it to the new member" id="invite-link"/>
                })}
            </section>
        })}
        <ActionError value=set_role.value()/>
        <ActionError value=remove.value()/>
        <Transition fallback=loading>
            {move || {
                let my_id = my_id.clone();
                Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(team) => {
                        let pending: Vec<_> = team.invites.iter().filter(|i| i.accepted_at.is_none()).cloned().collect();
                        view! {
                            <section class="card">
                                <h2>"Members"</h2>
                                <div class="table-wrap" tabindex="0"><table class="table" id="members-table">
                                    <thead><tr><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Since"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {team.members.into_iter().map(|m| {
                                            let uid = m.user_id.clone();
                                            let uid2 = m.user_id.clone();
                                            let is_me = m.user_id == my_id;
                                            let can_edit = writer && !is_me && (is_owner || m.role != Role::Owner);
                                            view! {
                                                <tr>
                                                    <td>{m.email.clone()}{is_me.then_some(" (you)")}</td>
                                                    <td>{if can_edit {
                                                        let role = m.role;
                                                        view! {
                                                            <ActionForm action=set_role attr:class="inline">
                                                                <input type="hidden" name="user_id" value=uid.clone()/>
                                                                <label class="visually-hidden" for=format!("role-{uid}")>"Role"</label>
                                                                <select id=format!("role-{uid}") name="role">
                                                                    {is_owner.then(|| view! { <option value="owner" selected=role == Role::Owner>"owner"</option> })}
                                                                    <option value="admin" selected=role == Role::Admin>"admin"</option>
                                                                    <option value="viewer" selected=role == Role::Viewer>"viewer"</option>
                                                                </select>
                                                                <button type="submit" class="button small secondary">"Change"</button>
                                                            </ActionForm>
                                                        }.into_any()
                                                    } else {
                                                        view! { <span class="badge">{m.role.as_str()}</span> }.into_any()
                                                    }}</td>
                                                    <td>{time(m.created_at)}</td>
                                                    <td>{can_edit.then(|| view! {
                                                        <ConfirmButton label="Remove".to_string() question=format!("Remove {} from this organization?", m.email)
                                                            confirm="Remove".to_string() on_confirm=move |_| { remove.dispatch(RemoveMember { user_id: uid2.clone() }); }/>
                                                    })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            </section>
                            <section class="card">
                                <h2>"Pending invites"</h2>
                                {if pending.is_empty() {
                                    view! { <p class="empty">"No pending invites."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="list">
                                            {pending.into_iter().map(|i| {
                                                let id = i.id.clone();
                                                view! {
                                                    <li>{i.email.clone()} " as " {i.role.as_str()} <span class="muted">{format!(" · expires {}", time(i.expires_at))}</span>
                                                        {writer.then(|| view! { " " <ConfirmButton label="Revoke".to_string() question="Revoke this invite link?".to_string()
                                                            confirm="Revoke".to_string() on_confirm=move |_| { revoke.dispatch(RevokeInvite { id: id.clone() }); }/> })}
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}}
        </Transition>
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let data = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let writer = can_write();
    let value = create.value();
    view! {
        <h1>"API keys"</h1>
        <p class="muted">"Keys authenticate the REST API (" <code>"Authorization: Bearer <key>"</code> ") for this organization only."</p>
        <p><a href="/settings/api-keys/reference" id="api-reference-link">"REST API reference"</a> " · every operation, its parameters and answers, and the " <a href="/api/v1/openapi.json">"OpenAPI document"</a> "."</p>
        {writer.then(|| view! {
            <section class="card">
                <h2>"Create a key"</h2>
                <ActionForm action=create attr:class="form inline-form" attr:id="api-key-form">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" placeholder="Backend integration" required/>
                    <FieldError value field="name"/>
                    <label for="key-scope">"Access"</label>
                    <select id="key-scope" name="scope" aria-describedby="key-scope-help">
                        <option value="full" selected>"Full access"</option>
                        <option value="read">"Read only"</option>
                    </select>
                    <span class="help" id="key-scope-help">"Read-only keys can list and read data. Full access also changes data and reads the webhook URL."</span>
                    <FieldError value field="scope"/>
                    <ActionError value/>
                    <button type="submit" class="button primary">"Create key"</button>
                </ActionForm>
                {move || value.get().and_then(|r| r.ok()).map(|secret| view! {
                    <div class="notice">
                        <crate::components::CopyField value=secret label="Your new key. It is shown only once: copy it now." id="new-api-key"/>
                    </div>
                })}
            </section>
        })}
        <ActionError value=revoke.value()/>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(keys) if keys.is_empty() => view! { <p class="empty">"No API keys yet."</p> }.into_any(),
                    Ok(keys) => view! {
                        <div class="table-wrap" tabindex="0"><table class="table" id="api-keys-table">
                            <thead><tr><th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Access"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col">"Status"</th></tr></thead>
                            <tbody>
                                {keys.into_iter().map(|k| {
                                    let id = k.id.clone();
                                    view! {
                                        <tr class:removed=k.revoked_at.is_some()>
                                            <td>{k.name.clone()}</td>
                                            <td><code>{format!("{}…", k.prefix)}</code></td>
                                            <td><span class="badge">{if k.scope == "read" { "read only" } else { "full access" }}</span></td>
                                            <td>{time(k.created_at)}<br/><span class="muted small">{k.created_by.clone().map(|e| format!("by {e}")).unwrap_or_default()}</span></td>
                                            <td>{k.last_used_at.map(time).unwrap_or_else(|| "never".into())}</td>
                                            <td>{match k.revoked_at {
                                                Some(t) => view! { <span>{format!("revoked {}", time(t))}</span> }.into_any(),
                                                None if writer => view! {
                                                    <ConfirmButton label="Revoke".to_string() question=format!("Revoke “{}”? Integrations using it stop working at once.", k.name)
                                                        confirm="Revoke key".to_string() on_confirm=move |_| { revoke.dispatch(RevokeApiKey { id: id.clone() }); }/>
                                                }.into_any(),
                                                None => view! { <span>"active"</span> }.into_any(),
                                            }}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let create_org = ServerAction::<CreateOrg>::new();
    let delete_org = ServerAction::<DeleteOrg>::new();
    let value = change.value();
    let org_value = create_org.value();
    let delete_value = delete_org.value();
    let me = use_me();
    let is_owner = me.as_ref().is_some_and(|m| m.role == Role::Owner);
    let org_name = me.as_ref().map(|m| m.org_name.clone()).unwrap_or_default();
    view! {
        <h1>"Account"</h1>
        <section class="card">
            <h2>"Change password"</h2>
            <ActionForm action=change attr:class="form" attr:id="password-form">
                <label for="current-password">"Current password"</label>
                <input id="current-password" name="current_password" type="password" autocomplete="current-password" required/>
                <FieldError value field="current_password"/>
                <label for="new-password">"New password (at least 10 characters)"</label>
                <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="10"/>
                <FieldError value field="new_password"/>
                <ActionError value/>
                <button type="submit" class="button primary">"Change password"</button>
                <span role="status" aria-live="polite">{move || matches!(value.get(), Some(Ok(()))).then_some("Password changed. Your other sessions were signed out.")}</span>
            </ActionForm>
        </section>
        <RetentionCard/>
        <section class="card">
            <h2>"Create another organization"</h2>
            <ActionForm action=create_org attr:class="form inline-form">
                <label for="new-org">"Name"</label>
                <input id="new-org" name="name" required/>
                <FieldError value=org_value field="organization"/>
                <ActionError value=org_value/>
                <button type="submit" class="button">"Create organization"</button>
            </ActionForm>
        </section>
        {is_owner.then(|| view! {
            <section class="card danger-zone">
                <h2>"Delete this organization"</h2>
                <p>"This deletes " <strong>{org_name.clone()}</strong> " with all its customers, partners, plans, events and API keys. It cannot be undone."</p>
                <ActionForm action=delete_org attr:class="form inline-form">
                    <label for="confirm-name">"Type the organization's name to confirm"</label>
                    <input id="confirm-name" name="confirm_name" autocomplete="off" required/>
                    <FieldError value=delete_value field="confirm_name"/>
                    <ActionError value=delete_value/>
                    <button type="submit" class="button danger">"Delete organization"</button>
                </ActionForm>
            </section>
        })}
    }
}

/// How long webhook payloads are kept (admins and owners change it).
#[component]
fn RetentionCard() -> impl IntoView {
    let save = ServerAction::<SetRetention>::new();
    let window = ServerAction::<SetAttributionWindow>::new();
    let data = Resource::new(
        move || (save.version().get(), window.version().get()),
        |_| get_retention(),
    );
    let writer = can_write();
    let value = save.value();
    let wvalue = window.value();
    view! {
        <section class="card" aria-labelledby="retention">
            <h2 id="retention">"Webhook data"</h2>
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok((days, window_days)) => view! {
                            <p>"Chargebee's event bodies are kept for "<strong id="retention-days">{days}" days"</strong>", then removed in the background. Outcomes, processing history and the ledger rows they wrote are kept for good."</p>
                            {writer.then(|| view! {
                                <ActionForm action=save attr:class="form inline-form">
                                    <label for="retention-input">"Days"</label>
                                    <input id="retention-input" name="days" type="number" min="30" max="3650" value=days required/>
                                    <FieldError value field="payload_retention_days"/>
                                    <ActionError value/>
                                    <button type="submit" class="button secondary">"Save"</button>
                                </ActionForm>
                            })}
                            <h3>"Attribution window"</h3>
                            <p>"A payment whose customer key matches no customer yet waits "<strong id="window-days">{window_days}" days"</strong>" for a referred customer with that key; after that it counts as not attributed."</p>
                            {writer.then(|| view! {
                                <ActionForm action=window attr:class="form inline-form">
                                    <label for="window-input">"Days"</label>
                                    <input id="window-input" name="days" type="number" min="1" max="365" value=window_days required/>
                                    <FieldError value=wvalue field="attribution_window_days"/>
                                    <ActionError value=wvalue/>
                                    <button type="submit" class="button secondary">"Save"</button>
                                </ActionForm>
                            })}
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
