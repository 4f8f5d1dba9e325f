//! Settings > Integrations > Webhooks: the supported integrations, and Chargebee's page with
//! the webhook URL (copy, rotate), Basic Auth, setup steps, its health (deliveries and alerts) and a test event.

use crate::api::{get_chargebee, RotateChargebee, SendTestEvent, SetBasicAuth};
use crate::components::{
    can_write, loading, time, ActionError, ConfirmButton, CopyField, FieldError, HealthPanel,
    LoadError,
};
use leptos::prelude::*;

#[component]
pub fn WebhooksPage() -> impl IntoView {
    view! {
        <h1>"Settings › Integrations › Webhooks"</h1>
        <section class="card">
            <h2>"Supported integrations"</h2>
            <ul class="integration-list">
                <li>
                    <a class="integration" href="/settings/integrations/webhooks/chargebee" id="integration-chargebee">
                        <strong>"Chargebee"</strong>
                        <span class="muted">"Payments, refunds and subscription changes, from Chargebee v2 webhooks"</span>
                    </a>
                </li>
            </ul>
            <p class="muted">"More billing providers will be listed here."</p>
        </section>
    }
}

#[component]
pub fn ChargebeePage() -> impl IntoView {
    let rotate = ServerAction::<RotateChargebee>::new();
    let basic = ServerAction::<SetBasicAuth>::new();
    let test = ServerAction::<SendTestEvent>::new();
    let data = Resource::new(
        move || {
            (
                rotate.version().get(),
                basic.version().get(),
                test.version().get(),
            )
        },
        |_| get_chargebee(),
    );
    let writer = can_write();
    let basic_value = basic.value();
    view! {
        <p class="breadcrumb"><a href="/settings/integrations/webhooks">"Integrations › Webhooks"</a> " › Chargebee"</p>
        <h1>"Chargebee"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(i) => {
                        let url = i.webhook_url.clone();
                        let health = i.health.clone();
                        let grace = match i.grace_days {
                            0 => "stops at once".to_string(),
                            1 => "keeps working for 1 day, then stops".to_string(),
                            n => format!("keeps working for {n} days, then stops"),
                        };
                        view! {
                            <section class="card">
                                <h2>"Webhook URL"</h2>
                                {if writer {
                                    view! { <CopyField value=url label="Paste this URL into Chargebee" id="webhook-url"/> }.into_any()
                                } else {
                                    view! {
                                        <p id="webhook-url-masked"><code>{url}</code></p>
                                        <p class="muted">"The webhook URL lets anyone who has it write to this ledger, so only admins and owners see it."</p>
                                    }.into_any()
                                }}
                                {i.previous_url_valid_until.map(|t| view! {
                                    <p class="notice" id="previous-url-notice">"The previous URL keeps working until " <strong>{time(t)}</strong> ". Update Chargebee before then."</p>
                                })}
                                {writer.then(|| view! {
                                    <div class="toolbar">
                                        <ConfirmButton
                                            id="rotate-url".to_string()
                                            label="Rotate URL".to_string()
                                            question=format!("Create a new URL? The current one {grace}.")
                                            confirm="Yes, rotate".to_string()
                                            on_confirm=move |_| { rotate.dispatch(RotateChargebee { revoke_previous: false }); }
                                        />
                                        <ConfirmButton
                                            id="rotate-url-revoke".to_string()
                                            label="Rotate and revoke the old URL now".to_string()
                                            question="Create a new URL and stop the current one at once? Deliveries to it fail until Chargebee has the new URL. Use this when the URL leaked.".to_string()
                                            confirm="Yes, revoke it now".to_string()
                                            on_confirm=move |_| { rotate.dispatch(RotateChargebee { revoke_previous: true }); }
                                        />
                                    </div>
                                    <ActionError value=rotate.value()/>
                                }.into_any())}
                            </section>
                            <HealthPanel health=health heading="Deliveries and health"/>
                            <section class="card">
                                <h2>"Test event"</h2>
                                <p class="muted">"A harmless event, through the same checks as a delivery from Chargebee, to see the pipeline work."</p>
                                {writer.then(|| view! {
                                    <button type="button" class="button" id="send-test-event" on:click=move |_| { test.dispatch(SendTestEvent {}); }
                                        disabled=move || test.pending().get()>"Send test event"</button>
                                    <span role="status" aria-live="polite" id="test-event-result">
                                        {move || match test.value().get() {
                                            Some(Ok(e)) => Some(view! {
                                                " Test event arrived at " {time(e.received_at)} " and was recorded as "
                                                <a href=format!("/events/{}", e.id)>{e.outcome.to_string()}</a> "."
                                            }.into_any()),
                                            Some(Err(e)) => Some(view! { <span class="error">{e.to_string()}</span> }.into_any()),
                                            None => None,
                                        }}
                                    </span>
                                })}
                            </section>
                            <section class="card">
                                <h2>"Basic Auth (optional)"</h2>
                                <p class="muted">"Chargebee can send a username and password with every webhook. When set here, calls without them are refused."</p>
                                <p id="basic-auth-state">{match &i.basic_auth_username {
                                    Some(u) => format!("Basic Auth is on, username “{u}”."),
                                    None => "Basic Auth is off.".to_string(),
                                }}</p>
                                {writer.then(|| view! {
                                    <ActionForm action=basic attr:class="form inline-form">
                                        <label for="ba-username">"Username"</label>
                                        <input id="ba-username" name="username" type="text" autocomplete="off"/>
                                        <FieldError value=basic_value field="username"/>
                                        <label for="ba-password">"Password"</label>
                                        <input id="ba-password" name="password" type="password" autocomplete="new-password"/>
                                        <FieldError value=basic_value field="password"/>
                                        <span class="help">"Leave both empty and save to turn Basic Auth off."</span>
                                        <ActionError value=basic_value/>
                                        <button type="submit" class="button">"Save Basic Auth"</button>
                                    </ActionForm>
                                })}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <section class="card setup">
            <h2>"Set up the webhook in Chargebee"</h2>
            <ol>
                <li>"In Chargebee, open " <strong>"Settings › Configure Chargebee › Webhooks"</strong> " and click " <strong>"+ Add Webhook"</strong> "."</li>
                <li>"Paste the URL above as the " <strong>"Webhook URL"</strong> ". Choose API version " <strong>"v2"</strong> " (v1 webhooks are refused)."</li>
                <li>"If you turned on Basic Auth above, enter the same username and password in Chargebee."</li>
                <li>"Under " <strong>"Events to Send"</strong> ", select at least " <em>"Customer Created, Customer Changed, Payment Succeeded"</em>
                    "; for refunds, failures and subscriptions also " <em>"Payment Refunded, Payment Failed, Subscription Created / Changed / Started / Activated / Reactivated / Renewed / Cancelled / Deleted"</em> "."</li>
                <li>"Tick " <strong>"Exclude card information from webhook call"</strong> ". (Card data is stripped here anyway and never stored.)"</li>
            </ol>
            <h3>"Tell us which customer a payment belongs to"</h3>
            <p>"Put your customer key (the key you use for the customer in Partner Ledger) in the Chargebee customer's "
                <code>"meta_data"</code> " as " <code>"customer_key"</code> ". If the customer is not in Partner Ledger yet, also set "
                <code>"partner_key"</code> " so we can create the customer and credit the partner."</p>
            <pre class="code" tabindex="0">"chargebee.customer.create({\n  email: \"ada@example.com\",\n  meta_data: { customer_key: \"<YOUR_CUSTOMER_KEY>\", partner_key: \"<PARTNER_KEY>\" }\n})"</pre>
            <p>"With Chargebee Hosted Pages, use the custom fields " <code>"cf_customer_id"</code> " (customer key) and "
                <code>"cf_partner_key"</code> " (partner key) instead."</p>
            <p>"Payments whose customer cannot be matched are kept as " <a href="/events?outcome=unmatched">"unmatched"</a>
                " and applied automatically once the customer exists. Set up your " <a href="/plans">"plans"</a>
                " with keys equal to Chargebee's plan ids (or item price ids) to see plan names on subscriptions."</p>
        </section>
    }
}
