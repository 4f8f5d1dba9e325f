use super::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Fixtures: Chargebee v2 webhook payloads, shaped like the documented event format.
// ---------------------------------------------------------------------------------------------

const CB_CUSTOMER_ID: &str = "AzZlmfSPAkP7gkFU";
const CUSTOMER_KEY: &str = "cust-42";
const PARTNER_KEY: &str = "acme-partners";
const OUR_CUSTOMER_ID: &str = "c_0001";
const SUB_ID: &str = "AzZhUGSPAkLskJQl";
const INVOICE_ID: &str = "inv_1001";
const TXN_ID: &str = "txn_AzZhUGSPAkLskJQo";
const REFUND_ID: &str = "txn_AzZhUGSPAkM2xJQr";
const OCCURRED_AT: i64 = 1_517_505_643;
const TXN_DATE: i64 = 1_517_505_640;
const CUSTOMER_RV: i64 = 1_517_505_643_557;
const SUB_RV: i64 = 1_517_505_651_000;

/// A Chargebee `customer` object. `meta_data` is left out when it would be empty, as Chargebee
/// does.
fn customer_json(cb_id: &str, customer_key: Option<&str>, partner_key: Option<&str>) -> Value {
    let mut c = json!({
        "id": cb_id,
        "first_name": "John",
        "last_name": "Doe",
        "email": "john@acmetest.com",
        "auto_collection": "on",
        "net_term_days": 0,
        "allow_direct_debit": false,
        "created_at": 1_517_505_600,
        "taxability": "taxable",
        "updated_at": 1_517_505_643,
        "locale": "en",
        "pii_cleared": "active",
        "channel": "web",
        "resource_version": CUSTOMER_RV,
        "deleted": false,
        "object": "customer",
        "card_status": "valid",
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
        "preferred_currency_code": "USD",
        "primary_payment_source_id": "pm_AzZhUGSPAkLskJQp",
        "payment_method": {
            "object": "payment_method",
            "type": "card",
            "reference_id": "tok_AzZhUGSPAkLskJQq",
            "gateway": "chargebee",
            "gateway_account_id": "gw_AzZhUGSPAkLdWJQn",
            "status": "valid"
        }
    });
    let mut meta = Map::new();
    if let Some(k) = customer_key {
        meta.insert("customer_key".into(), json!(k));
    }
    if let Some(p) = partner_key {
        meta.insert("partner_key".into(), json!(p));
    }
    if !meta.is_empty() {
        c["meta_data"] = Value::Object(meta);
    }
    c
}

/// The `card` object Chargebee includes in payment events.
fn card_json() -> Value {
    json!({
        "status": "valid",
        "gateway": "chargebee",
        "gateway_account_id": "gw_AzZhUGSPAkLdWJQn",
        "first_name": "John",
        "last_name": "Doe",
        "iin": "411111",
        "last4": "1111",
        "card_type": "visa",
        "funding_type": "credit",
        "expiry_month": 12,
        "expiry_year": 2030,
        "created_at": 1_517_505_600,
        "updated_at": 1_517_505_600,
        "resource_version": 1_517_505_600_000_i64,
        "object": "card",
        "masked_number": "************1111",
        "customer_id": CB_CUSTOMER_ID,
        "payment_source_id": "pm_AzZhUGSPAkLskJQp"
    })
}

/// A `transaction` object of type "payment".
fn payment_txn_json(txn_id: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": txn_id,
        "customer_id": CB_CUSTOMER_ID,
        "subscription_id": SUB_ID,
        "gateway_account_id": "gw_AzZhUGSPAkLdWJQn",
        "payment_source_id": "pm_AzZhUGSPAkLskJQp",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": "payment",
        "date": TXN_DATE,
        "exchange_rate": 1.0,
        "amount": amount,
        "id_at_gateway": "cb___dev__KyVnqiSBWl7YVnC",
        "status": status,
        "updated_at": TXN_DATE,
        "resource_version": 1_517_505_640_000_i64,
        "deleted": false,
        "object": "transaction",
        "masked_card_number": "************1111",
        "currency_code": "USD",
        "base_currency_code": "USD",
        "amount_unused": 0,
        "linked_invoices": [{
            "invoice_id": INVOICE_ID,
            "applied_amount": amount,
            "applied_at": TXN_DATE,
            "invoice_date": TXN_DATE,
            "invoice_total": amount,
            "invoice_status": "paid"
        }],
        "linked_credit_notes": [],
        "linked_refunds": [],
        "linked_payments": []
    })
}

/// A `transaction` object of type "refund" pointing back at `original_txn_id`.
fn refund_txn_json(refund_id: &str, original_txn_id: &str, amount: i64) -> Value {
    json!({
        "id": refund_id,
        "customer_id": CB_CUSTOMER_ID,
        "subscription_id": SUB_ID,
        "gateway_account_id": "gw_AzZhUGSPAkLdWJQn",
        "payment_source_id": "pm_AzZhUGSPAkLskJQp",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": "refund",
        "date": TXN_DATE + 86_400,
        "exchange_rate": 1.0,
        "amount": amount,
        "id_at_gateway": "cb___dev__KyVnqiSBWlAbCdE",
        "status": "success",
        "updated_at": TXN_DATE + 86_400,
        "resource_version": 1_517_592_040_000_i64,
        "deleted": false,
        "object": "transaction",
        "masked_card_number": "************1111",
        "refunded_txn_id": original_txn_id,
        "currency_code": "USD",
        "base_currency_code": "USD",
        "linked_invoices": [],
        "linked_credit_notes": [{
            "cn_id": "CN-1",
            "cn_reason_code": "product_unsatisfactory",
            "cn_date": TXN_DATE + 86_400,
            "cn_total": amount,
            "cn_status": "refunded",
            "cn_reference_invoice_id": INVOICE_ID
        }],
        "linked_refunds": [],
        "linked_payments": []
    })
}

/// An `invoice` object paid by `txn_id`.
fn invoice_json(txn_id: &str, amount: i64) -> Value {
    let mut invoice = json!({
        "id": INVOICE_ID,
        "customer_id": CB_CUSTOMER_ID,
        "subscription_id": SUB_ID,
        "recurring": true,
        "status": "paid",
        "price_type": "tax_exclusive",
        "date": TXN_DATE,
        "due_date": TXN_DATE,
        "net_term_days": 0,
        "exchange_rate": 1.0,
        "total": amount,
        "amount_paid": amount,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "amount_due": 0,
        "paid_at": TXN_DATE,
        "updated_at": TXN_DATE,
        "resource_version": 1_517_505_640_500_i64,
        "deleted": false,
        "object": "invoice",
        "first_invoice": true,
        "amount_to_collect": 0,
        "round_off_amount": 0,
        "has_advance_charges": false,
        "currency_code": "USD",
        "base_currency_code": "USD",
        "sub_total": amount,
        "dunning_attempts": [],
        "applied_credits": [],
        "adjustment_credit_notes": [],
        "issued_credit_notes": [],
        "linked_orders": []
    });
    invoice["line_items"] = json!([{
        "id": "li_AzZhUGSPAkLskJQs",
        "date_from": TXN_DATE,
        "date_to": TXN_DATE + 2_678_400,
        "unit_amount": amount,
        "quantity": 1,
        "amount": amount,
        "pricing_model": "flat_fee",
        "is_taxed": false,
        "tax_amount": 0,
        "object": "line_item",
        "subscription_id": SUB_ID,
        "customer_id": CB_CUSTOMER_ID,
        "description": "Growth Plan",
        "entity_type": "plan_item_price",
        "entity_id": "growth-USD-Monthly",
        "discount_amount": 0,
        "item_level_discount_amount": 0
    }]);
    invoice["linked_payments"] = json!([{
        "txn_id": txn_id,
        "applied_amount": amount,
        "applied_at": TXN_DATE,
        "txn_status": "success",
        "txn_date": TXN_DATE,
        "txn_amount": amount
    }]);
    invoice
}

/// A Product Catalog 1.0 subscription (`plan_id`).
fn subscription_pc1_json(status: &str, resource_version: i64) -> Value {
    json!({
        "id": SUB_ID,
        "customer_id": CB_CUSTOMER_ID,
        "plan_id": "basic-monthly",
        "plan_quantity": 1,
        "plan_unit_price": 5000,
        "billing_period": 1,
        "billing_period_unit": "month",
        "plan_free_quantity": 0,
        "status": status,
        "current_term_start": 1_517_505_643,
        "current_term_end": 1_520_184_043,
        "next_billing_at": 1_520_184_043,
        "created_at": 1_517_505_643,
        "started_at": 1_517_505_643,
        "activated_at": 1_517_505_643,
        "updated_at": 1_517_505_651,
        "has_scheduled_changes": false,
        "channel": "web",
        "resource_version": resource_version,
        "deleted": false,
        "object": "subscription",
        "currency_code": "usd",
        "due_invoices_count": 0,
        "mrr": 5000,
        "exchange_rate": 1.0,
        "base_currency_code": "USD"
    })
}

/// A Product Catalog 2.0 subscription (`subscription_items`), with an addon listed before the
/// plan item. `item_id` on the plan item is optional (see the tests).
fn subscription_pc2_json(status: &str, resource_version: i64) -> Value {
    json!({
        "id": SUB_ID,
        "billing_period": 1,
        "billing_period_unit": "month",
        "customer_id": CB_CUSTOMER_ID,
        "status": status,
        "current_term_start": 1_517_505_643,
        "current_term_end": 1_520_184_043,
        "next_billing_at": 1_520_184_043,
        "created_at": 1_517_505_643,
        "started_at": 1_517_505_643,
        "activated_at": 1_517_505_643,
        "updated_at": 1_517_505_651,
        "has_scheduled_changes": false,
        "channel": "web",
        "resource_version": resource_version,
        "deleted": false,
        "object": "subscription",
        "currency_code": "USD",
        "subscription_items": [
            {
                "item_price_id": "seats-addon-USD-Monthly",
                "item_type": "addon",
                "quantity": 3,
                "unit_price": 500,
                "amount": 1500,
                "free_quantity": 0,
                "object": "subscription_item"
            },
            {
                "item_price_id": "growth-USD-Monthly",
                "item_id": "growth",
                "item_type": "plan",
                "quantity": 1,
                "unit_price": 5000,
                "amount": 5000,
                "free_quantity": 0,
                "object": "subscription_item"
            }
        ],
        "due_invoices_count": 0,
        "mrr": 6500,
        "exchange_rate": 1.0,
        "base_currency_code": "USD"
    })
}

/// The event envelope around `content`.
fn event_json(id: &str, event_type: &str, content: Value) -> Value {
    json!({
        "id": id,
        "occurred_at": OCCURRED_AT,
        "source": "scheduled_job",
        "user": "full_access_key_v1",
        "object": "event",
        "api_version": "v2",
        "content": content,
        "event_type": event_type,
        "webhook_status": "scheduled",
        "webhooks": [{
            "id": "whv2_AzZhUGSPAkLskJQt",
            "webhook_status": "scheduled",
            "object": "webhook"
        }]
    })
}

fn payment_succeeded(
    txn_id: &str,
    amount: i64,
    customer_key: Option<&str>,
    partner_key: Option<&str>,
) -> Value {
    event_json(
        "ev_16BHbhF4s42tO2lK",
        "payment_succeeded",
        json!({
            "transaction": payment_txn_json(txn_id, amount, "success"),
            "invoice": invoice_json(txn_id, amount),
            "customer": customer_json(CB_CUSTOMER_ID, customer_key, partner_key),
            "subscription": subscription_pc2_json("active", SUB_RV),
            "card": card_json()
        }),
    )
}

fn payment_failed(txn_id: &str, amount: i64, customer_key: Option<&str>) -> Value {
    let mut invoice = invoice_json(txn_id, amount);
    invoice["status"] = json!("payment_due");
    invoice["amount_paid"] = json!(0);
    invoice["amount_due"] = json!(amount);
    invoice["linked_payments"][0]["txn_status"] = json!("failure");
    event_json(
        "ev_16BHbhF4s42tO2lM",
        "payment_failed",
        json!({
            "transaction": payment_txn_json(txn_id, amount, "failure"),
            "invoice": invoice,
            "customer": customer_json(CB_CUSTOMER_ID, customer_key, None),
            "subscription": subscription_pc2_json("active", SUB_RV),
            "card": card_json()
        }),
    )
}

fn payment_refunded(
    refund_id: &str,
    original_txn_id: &str,
    amount: i64,
    customer_key: Option<&str>,
) -> Value {
    event_json(
        "ev_16BHbhF4s42tO2lN",
        "payment_refunded",
        json!({
            "transaction": refund_txn_json(refund_id, original_txn_id, amount),
            "invoice": invoice_json(original_txn_id, 5000),
            "customer": customer_json(CB_CUSTOMER_ID, customer_key, None),
            "subscription": subscription_pc2_json("active", SUB_RV),
            "card": card_json()
        }),
    )
}

fn subscription_event(event_type: &str, subscription: Value, customer: Option<Value>) -> Value {
    let mut content = json!({ "subscription": subscription });
    if let Some(c) = customer {
        content["customer"] = c;
    }
    event_json("ev_16BHbhF4s42tO2lP", event_type, content)
}

fn customer_event(event_type: &str, customer: Value) -> Value {
    event_json(
        "ev_16BHbhF4s42tO2lQ",
        event_type,
        json!({ "customer": customer }),
    )
}

fn envelope(v: &Value) -> Envelope {
    parse_envelope(&serde_json::to_vec(v).unwrap()).expect("fixture is a valid v2 event")
}

fn classified(v: &Value) -> BillingEvent {
    classify(&envelope(v)).expect("fixture classifies")
}

fn txn_of(event: &BillingEvent) -> CbTransaction {
    match event {
        BillingEvent::PaymentSucceeded { txn, .. } => txn.clone(),
        BillingEvent::PaymentRefunded { refund, .. } => refund.clone(),
        other => panic!("not a payment or refund: {other:?}"),
    }
}

fn subscription_of(event: &BillingEvent) -> CbSubscription {
    match event {
        BillingEvent::Subscription { subscription, .. } => subscription.clone(),
        other => panic!("not a subscription event: {other:?}"),
    }
}

fn customer_of(event: &BillingEvent) -> CbCustomer {
    match event {
        BillingEvent::PaymentSucceeded { customer, .. }
        | BillingEvent::PaymentFailed { customer, .. }
        | BillingEvent::PaymentRefunded { customer, .. }
        | BillingEvent::Subscription { customer, .. }
        | BillingEvent::Customer { customer } => customer.clone(),
        BillingEvent::Other => panic!("Other carries no customer"),
    }
}

fn known_customer(has_partner: bool) -> KnownCustomer {
    KnownCustomer {
        id: OUR_CUSTOMER_ID.into(),
        key: CUSTOMER_KEY.into(),
        has_partner,
        chargebee_id: Some(CB_CUSTOMER_ID.into()),
        version: Some(CUSTOMER_RV),
    }
}

fn state_with_customer() -> State {
    State {
        customer_by_key: Some(known_customer(true)),
        ..State::default()
    }
}

fn recorded_txn(amount: i64, amount_refunded: i64) -> KnownTransaction {
    KnownTransaction {
        amount,
        amount_refunded,
        recorded: true,
        removed_reason: None,
        customer_id: Some(OUR_CUSTOMER_ID.into()),
    }
}

fn failure_tombstone() -> KnownTransaction {
    KnownTransaction {
        amount: 0,
        amount_refunded: 0,
        recorded: false,
        removed_reason: Some("failed".into()),
        customer_id: None,
    }
}

fn unmatched_reason(p: &Plan) -> &str {
    match &p.outcome {
        Outcome::Unmatched(why) => why.as_str(),
        other => panic!("expected Unmatched, got {other:?} with {:?}", p.changes),
    }
}

fn ignored_reason(p: &Plan) -> &str {
    match &p.outcome {
        Outcome::Ignored(why) => why.as_str(),
        other => panic!("expected Ignored, got {other:?} with {:?}", p.changes),
    }
}

fn new_customer_changes(partner_created: bool) -> Vec<Change> {
    let mut changes = vec![];
    if partner_created {
        changes.push(Change::CreatePartner {
            key: PARTNER_KEY.into(),
        });
    }
    changes.push(Change::SaveCustomer {
        target: CustomerTarget::New {
            key: CUSTOMER_KEY.into(),
        },
        email: Some("john@acmetest.com".into()),
        name: Some("John Doe".into()),
        chargebee_id: Some(CB_CUSTOMER_ID.into()),
        partner_key: Some(PARTNER_KEY.into()),
        version: Some(CUSTOMER_RV),
    });
    changes.push(Change::ReleaseParked {
        customer_key: CUSTOMER_KEY.into(),
        chargebee_id: Some(CB_CUSTOMER_ID.into()),
    });
    changes
}

// ---------------------------------------------------------------------------------------------
// parse_envelope
// ---------------------------------------------------------------------------------------------

#[test]
fn a_valid_v2_event_parses_into_an_envelope() {
    let v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    let env = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(env.id, "ev_16BHbhF4s42tO2lK");
    assert_eq!(env.event_type, "payment_succeeded");
    assert_eq!(env.occurred_at, OCCURRED_AT);
    assert_eq!(env.api_version.as_deref(), Some("v2"));
    assert_eq!(env.content["transaction"]["id"], json!(TXN_ID));
    assert_eq!(env.content["customer"]["id"], json!(CB_CUSTOMER_ID));
}

#[test]
fn a_body_that_is_not_json_is_rejected_as_not_json() {
    let err = parse_envelope(b"event_type=payment_succeeded&id=ev_1").unwrap_err();
    assert!(matches!(err.0, Rejection::NotJson(_)), "got {:?}", err.0);
    assert_eq!(err.1, None);
}

#[test]
fn a_json_array_is_rejected_as_not_an_object() {
    let body = serde_json::to_vec(&json!([payment_succeeded(TXN_ID, 5000, None, None)])).unwrap();
    let err = parse_envelope(&body).unwrap_err();
    assert_eq!(err.0, Rejection::NotAnObject);
    assert_eq!(err.1, None);
}

#[test]
fn an_event_without_an_id_is_rejected_and_keeps_the_parsed_body() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v.as_object_mut().unwrap().remove("id");
    let (rejection, parsed) = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(rejection, Rejection::MissingField("id"));
    assert_eq!(parsed.unwrap()["event_type"], json!("payment_succeeded"));
}

#[test]
fn an_event_with_a_blank_id_is_rejected_as_missing_the_id() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["id"] = json!("   ");
    let (rejection, _) = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(rejection, Rejection::MissingField("id"));
}

#[test]
fn an_event_without_an_event_type_is_rejected() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v.as_object_mut().unwrap().remove("event_type");
    let (rejection, parsed) = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(rejection, Rejection::MissingField("event_type"));
    assert_eq!(parsed.unwrap()["id"], json!("ev_16BHbhF4s42tO2lK"));
}

#[test]
fn a_v1_event_is_rejected_as_unsupported_but_the_parsed_body_is_returned() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["api_version"] = json!("v1");
    let (rejection, parsed) = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(rejection, Rejection::UnsupportedApiVersion("v1".into()));
    assert!(rejection.to_string().contains("\"v1\""), "{rejection}");
    let parsed = parsed.expect("the body is kept so the reject can be recorded");
    assert_eq!(parsed["id"], json!("ev_16BHbhF4s42tO2lK"));
    assert_eq!(
        peek_id_and_type(&parsed),
        (
            Some("ev_16BHbhF4s42tO2lK".to_string()),
            Some("payment_succeeded".to_string())
        )
    );
}

#[test]
fn an_event_without_api_version_is_accepted() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v.as_object_mut().unwrap().remove("api_version");
    let env = envelope(&v);
    assert_eq!(env.api_version, None);
    assert_eq!(env.event_type, "payment_succeeded");
}

#[test]
fn occurred_at_is_read_as_seconds_and_defaults_to_zero() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["occurred_at"] = json!(1_700_000_123);
    assert_eq!(envelope(&v).occurred_at, 1_700_000_123);

    v["occurred_at"] = json!("1700000456");
    assert_eq!(envelope(&v).occurred_at, 1_700_000_456);

    v.as_object_mut().unwrap().remove("occurred_at");
    assert_eq!(envelope(&v).occurred_at, 0);
}

// ---------------------------------------------------------------------------------------------
// strip_card_data / scrub_text
// ---------------------------------------------------------------------------------------------

#[test]
fn strip_card_data_removes_the_card_object_and_masked_card_number_from_a_payment_event() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    let removed = strip_card_data(&mut v);
    // content.card and content.transaction.masked_card_number.
    assert_eq!(removed, 2);
    assert!(v["content"].get("card").is_none());
    assert!(v["content"]["transaction"]
        .get("masked_card_number")
        .is_none());
    assert!(!v.to_string().contains("1111"), "card digits left in {v}");
}

#[test]
fn strip_card_data_keeps_fields_that_are_not_card_data() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    strip_card_data(&mut v);
    let t = &v["content"]["transaction"];
    assert_eq!(t["id"], json!(TXN_ID));
    assert_eq!(t["amount"], json!(5000));
    assert_eq!(t["payment_method"], json!("card"));
    let c = &v["content"]["customer"];
    assert_eq!(c["first_name"], json!("John"));
    assert_eq!(c["card_status"], json!("valid"));
    assert_eq!(c["meta_data"]["customer_key"], json!(CUSTOMER_KEY));
    assert_eq!(
        v["content"]["invoice"]["linked_payments"][0]["txn_id"],
        json!(TXN_ID)
    );
}

#[test]
fn strip_card_data_reaches_card_fields_nested_inside_arrays() {
    let mut v = json!({
        "list": [
            { "card": card_json(), "id": "pm_1" },
            {
                "id": "pm_2",
                "iin": "411111",
                "last4": "4242",
                "expiry_month": 1,
                "expiry_year": 2031,
                "status": "valid"
            }
        ]
    });
    let removed = strip_card_data(&mut v);
    assert_eq!(removed, 5);
    assert_eq!(v["list"][0], json!({ "id": "pm_1" }));
    assert_eq!(v["list"][1], json!({ "id": "pm_2", "status": "valid" }));
}

#[test]
fn strip_card_data_on_already_stripped_data_removes_nothing() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    assert!(strip_card_data(&mut v) > 0);
    let once = v.clone();
    assert_eq!(strip_card_data(&mut v), 0);
    assert_eq!(v, once);
}

#[test]
fn a_stripped_payment_event_still_classifies_the_same() {
    let v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    let mut stripped = v.clone();
    strip_card_data(&mut stripped);
    assert_eq!(classified(&stripped), classified(&v));
}

#[test]
fn scrub_text_masks_a_sixteen_digit_card_number() {
    let out = scrub_text(b"card=4111111111111111&amount=5000", 1000);
    assert_eq!(out, "card=[redacted]&amount=5000");
}

#[test]
fn scrub_text_masks_a_card_number_written_in_groups() {
    let out = scrub_text(b"pan: 4111 1111 1111 1111", 1000);
    assert_eq!(out, "pan: [redacted]");
    assert!(!out.contains("4111"));
}

#[test]
fn scrub_text_keeps_short_numbers_such_as_timestamps() {
    let out = scrub_text(b"occurred_at=1517505643", 1000);
    assert_eq!(out, "occurred_at=1517505643");
}

#[test]
fn scrub_text_truncates_long_bodies_and_says_so() {
    let out = scrub_text(b"abcdefghij", 4);
    assert_eq!(out, "abcd…[truncated]");
    assert_eq!(scrub_text(b"abcd", 4), "abcd");
}

// ---------------------------------------------------------------------------------------------
// classify
// ---------------------------------------------------------------------------------------------

#[test]
fn payment_succeeded_becomes_a_payment_with_amount_currency_invoice_and_subscription() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    v["content"]["transaction"]["currency_code"] = json!("usd");
    let event = classified(&v);
    assert_eq!(
        txn_of(&event),
        CbTransaction {
            id: TXN_ID.into(),
            amount: 5000,
            currency: "USD".into(),
            date: TXN_DATE,
            subscription_id: Some(SUB_ID.into()),
            invoice_id: Some(INVOICE_ID.into()),
            customer_id: Some(CB_CUSTOMER_ID.into()),
            exchange_rate: Some("1".into()),
            base_currency_code: Some("USD".into()),
        }
    );
    assert!(matches!(event, BillingEvent::PaymentSucceeded { .. }));
}

#[test]
fn payment_succeeded_reads_the_customer_from_meta_data_object() {
    let event = classified(&payment_succeeded(
        TXN_ID,
        5000,
        Some(CUSTOMER_KEY),
        Some(PARTNER_KEY),
    ));
    assert_eq!(
        customer_of(&event),
        CbCustomer {
            id: Some(CB_CUSTOMER_ID.into()),
            email: Some("john@acmetest.com".into()),
            name: Some("John Doe".into()),
            customer_key: Some(CUSTOMER_KEY.into()),
            partner_key: Some(PARTNER_KEY.into()),
            version: Some(CUSTOMER_RV),
        }
    );
}

#[test]
fn meta_data_given_as_a_json_string_is_decoded() {
    let mut v = payment_succeeded(TXN_ID, 5000, None, None);
    v["content"]["customer"]["meta_data"] =
        json!(r#"{"customer_key":"cust-42","partner_key":"acme-partners"}"#);
    let c = customer_of(&classified(&v));
    assert_eq!(c.customer_key.as_deref(), Some(CUSTOMER_KEY));
    assert_eq!(c.partner_key.as_deref(), Some(PARTNER_KEY));
}

#[test]
fn hosted_page_custom_fields_supply_the_customer_and_partner_keys() {
    let mut v = payment_succeeded(TXN_ID, 5000, None, None);
    v["content"]["customer"]["cf_customer_id"] = json!(CUSTOMER_KEY);
    v["content"]["customer"]["cf_partner_key"] = json!(PARTNER_KEY);
    let c = customer_of(&classified(&v));
    assert_eq!(c.customer_key.as_deref(), Some(CUSTOMER_KEY));
    assert_eq!(c.partner_key.as_deref(), Some(PARTNER_KEY));
}

#[test]
fn meta_data_keys_take_precedence_over_custom_fields() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"]["customer"]["cf_customer_id"] = json!("cust-from-hosted-page");
    v["content"]["customer"]["cf_partner_key"] = json!("partner-from-hosted-page");
    let c = customer_of(&classified(&v));
    assert_eq!(c.customer_key.as_deref(), Some(CUSTOMER_KEY));
    assert_eq!(c.partner_key.as_deref(), Some("partner-from-hosted-page"));
}

#[test]
fn a_customer_without_meta_data_or_custom_fields_has_no_keys() {
    let c = customer_of(&classified(&payment_succeeded(TXN_ID, 5000, None, None)));
    assert_eq!(c.customer_key, None);
    assert_eq!(c.partner_key, None);
    assert_eq!(c.id.as_deref(), Some(CB_CUSTOMER_ID));
}

#[test]
fn payment_refunded_names_the_original_from_refunded_txn_id() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        2000,
        Some(CUSTOMER_KEY),
    ));
    match &event {
        BillingEvent::PaymentRefunded {
            refund,
            original_txn_id,
            customer,
        } => {
            assert_eq!(refund.id, REFUND_ID);
            assert_eq!(refund.amount, 2000);
            assert_eq!(refund.currency, "USD");
            assert_eq!(refund.date, TXN_DATE + 86_400);
            assert_eq!(original_txn_id.as_deref(), Some(TXN_ID));
            assert_eq!(customer.customer_key.as_deref(), Some(CUSTOMER_KEY));
        }
        other => panic!("expected PaymentRefunded, got {other:?}"),
    }
}

#[test]
fn a_refund_without_refunded_txn_id_falls_back_to_the_invoice_linked_payments() {
    let mut v = payment_refunded(REFUND_ID, TXN_ID, 2000, Some(CUSTOMER_KEY));
    v["content"]["transaction"]
        .as_object_mut()
        .unwrap()
        .remove("refunded_txn_id");
    // The refund itself listed first must be skipped.
    v["content"]["invoice"]["linked_payments"] = json!([
        {
            "txn_id": REFUND_ID,
            "applied_amount": 2000,
            "applied_at": TXN_DATE + 86_400,
            "txn_status": "success",
            "txn_date": TXN_DATE + 86_400,
            "txn_amount": 2000
        },
        {
            "txn_id": TXN_ID,
            "applied_amount": 5000,
            "applied_at": TXN_DATE,
            "txn_status": "success",
            "txn_date": TXN_DATE,
            "txn_amount": 5000
        }
    ]);
    match classified(&v) {
        BillingEvent::PaymentRefunded {
            original_txn_id, ..
        } => assert_eq!(original_txn_id.as_deref(), Some(TXN_ID)),
        other => panic!("expected PaymentRefunded, got {other:?}"),
    }
}

#[test]
fn a_refund_with_no_way_to_find_the_original_has_none() {
    let mut v = payment_refunded(REFUND_ID, TXN_ID, 2000, Some(CUSTOMER_KEY));
    v["content"]["transaction"]
        .as_object_mut()
        .unwrap()
        .remove("refunded_txn_id");
    v["content"].as_object_mut().unwrap().remove("invoice");
    match classified(&v) {
        BillingEvent::PaymentRefunded {
            original_txn_id, ..
        } => assert_eq!(original_txn_id, None),
        other => panic!("expected PaymentRefunded, got {other:?}"),
    }
}

#[test]
fn payment_failed_carries_the_failed_transaction_id() {
    let event = classified(&payment_failed(TXN_ID, 5000, Some(CUSTOMER_KEY)));
    match event {
        BillingEvent::PaymentFailed { txn_id, customer } => {
            assert_eq!(txn_id, TXN_ID);
            assert_eq!(customer.customer_key.as_deref(), Some(CUSTOMER_KEY));
        }
        other => panic!("expected PaymentFailed, got {other:?}"),
    }
}

#[test]
fn a_product_catalog_1_subscription_uses_plan_id_as_the_plan_key() {
    let v = subscription_event(
        "subscription_created",
        subscription_pc1_json("active", SUB_RV),
        Some(customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None)),
    );
    let event = classified(&v);
    assert!(matches!(
        event,
        BillingEvent::Subscription {
            action: SubscriptionAction::Upsert,
            ..
        }
    ));
    assert_eq!(
        subscription_of(&event),
        CbSubscription {
            id: SUB_ID.into(),
            customer_id: Some(CB_CUSTOMER_ID.into()),
            plan_key: Some("basic-monthly".into()),
            plan_item_id: None,
            status: "active".into(),
            mrr: Some(5000),
            currency: Some("USD".into()),
            current_term_start: Some(1_517_505_643),
            current_term_end: Some(1_520_184_043),
            version: SUB_RV,
        }
    );
}

#[test]
fn a_product_catalog_2_subscription_uses_the_plan_item_and_ignores_addons() {
    let v = subscription_event(
        "subscription_changed",
        subscription_pc2_json("active", SUB_RV),
        Some(customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None)),
    );
    let sub = subscription_of(&classified(&v));
    assert_eq!(sub.plan_key.as_deref(), Some("growth-USD-Monthly"));
    assert_eq!(sub.plan_item_id.as_deref(), Some("growth"));
    assert_eq!(sub.mrr, Some(6500));
}

#[test]
fn a_product_catalog_2_plan_item_without_item_id_has_no_plan_item_id() {
    let mut s = subscription_pc2_json("active", SUB_RV);
    s["subscription_items"][1]
        .as_object_mut()
        .unwrap()
        .remove("item_id");
    let sub = subscription_of(&classified(&subscription_event(
        "subscription_renewed",
        s,
        None,
    )));
    assert_eq!(sub.plan_key.as_deref(), Some("growth-USD-Monthly"));
    assert_eq!(sub.plan_item_id, None);
}

#[test]
fn a_subscription_without_resource_version_is_versioned_by_occurred_at_in_milliseconds() {
    let mut s = subscription_pc1_json("active", SUB_RV);
    s.as_object_mut().unwrap().remove("resource_version");
    let sub = subscription_of(&classified(&subscription_event(
        "subscription_renewed",
        s,
        None,
    )));
    assert_eq!(sub.version, OCCURRED_AT * 1000);
}

#[test]
fn subscription_cancelled_and_deleted_map_to_their_actions() {
    let cases = [
        ("subscription_cancelled", SubscriptionAction::Cancel),
        ("subscription_deleted", SubscriptionAction::Delete),
        ("subscription_reactivated", SubscriptionAction::Upsert),
        ("subscription_activated", SubscriptionAction::Upsert),
    ];
    for (event_type, expected) in cases {
        let v = subscription_event(event_type, subscription_pc2_json("cancelled", SUB_RV), None);
        match classified(&v) {
            BillingEvent::Subscription { action, .. } => {
                assert_eq!(action, expected, "for {event_type}")
            }
            other => panic!("{event_type}: expected Subscription, got {other:?}"),
        }
    }
}

#[test]
fn a_subscription_event_without_a_subscription_is_a_content_error() {
    let v = customer_event(
        "subscription_created",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None),
    );
    let err = classify(&envelope(&v)).unwrap_err();
    assert!(err.0.contains("subscription"), "{err}");
}

#[test]
fn customer_created_becomes_a_customer_event() {
    let v = customer_event(
        "customer_created",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some(PARTNER_KEY)),
    );
    match classified(&v) {
        BillingEvent::Customer { customer } => {
            assert_eq!(customer.id.as_deref(), Some(CB_CUSTOMER_ID));
            assert_eq!(customer.customer_key.as_deref(), Some(CUSTOMER_KEY));
            assert_eq!(customer.partner_key.as_deref(), Some(PARTNER_KEY));
            assert_eq!(customer.version, Some(CUSTOMER_RV));
        }
        other => panic!("expected Customer, got {other:?}"),
    }
}

#[test]
fn customer_changed_without_a_customer_is_a_content_error() {
    let v = event_json("ev_16BHbhF4s42tO2lR", "customer_changed", json!({}));
    let err = classify(&envelope(&v)).unwrap_err();
    assert!(err.0.contains("customer"), "{err}");
}

#[test]
fn an_event_type_the_ledger_does_not_use_is_other() {
    let v = event_json(
        "ev_16BHbhF4s42tO2lS",
        "invoice_generated",
        json!({ "invoice": invoice_json(TXN_ID, 5000) }),
    );
    assert_eq!(classified(&v), BillingEvent::Other);
    assert_eq!(
        plan(&BillingEvent::Other, &State::default()).outcome,
        Outcome::Ignored("event type not used by the ledger".into())
    );
}

#[test]
fn payment_succeeded_without_a_transaction_is_a_content_error() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"].as_object_mut().unwrap().remove("transaction");
    let err = classify(&envelope(&v)).unwrap_err();
    assert_eq!(
        err,
        ContentError::missing("event content has no `transaction`")
    );
}

#[test]
fn a_transaction_without_an_amount_is_a_content_error_naming_it() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"]["transaction"]
        .as_object_mut()
        .unwrap()
        .remove("amount");
    let err = classify(&envelope(&v)).unwrap_err();
    assert!(err.0.contains(TXN_ID), "{err}");
    assert!(err.0.contains("amount"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// customer_ref / transaction_ref
// ---------------------------------------------------------------------------------------------

#[test]
fn customer_ref_gives_the_key_and_chargebee_id() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    assert_eq!(
        customer_ref(&event),
        (
            Some(CUSTOMER_KEY.to_string()),
            Some(CB_CUSTOMER_ID.to_string())
        )
    );
}

#[test]
fn customer_ref_falls_back_to_the_transaction_customer_id() {
    let mut v = payment_succeeded(TXN_ID, 5000, None, None);
    v["content"].as_object_mut().unwrap().remove("customer");
    v["content"]["transaction"]["customer_id"] = json!("cb_from_txn");
    let event = classified(&v);
    assert_eq!(
        customer_ref(&event),
        (None, Some("cb_from_txn".to_string()))
    );
    assert_eq!(customer_ref(&BillingEvent::Other), (None, None));
}

#[test]
fn transaction_ref_is_the_payment_or_the_refunded_original() {
    let payment = classified(&payment_succeeded(TXN_ID, 5000, None, None));
    assert_eq!(transaction_ref(&payment), Some(TXN_ID));
    let refund = classified(&payment_refunded(REFUND_ID, TXN_ID, 2000, None));
    assert_eq!(transaction_ref(&refund), Some(TXN_ID));
    let failed = classified(&payment_failed(TXN_ID, 5000, None));
    assert_eq!(transaction_ref(&failed), Some(TXN_ID));
    let sub = classified(&subscription_event(
        "subscription_created",
        subscription_pc1_json("active", SUB_RV),
        None,
    ));
    assert_eq!(transaction_ref(&sub), None);
}

// ---------------------------------------------------------------------------------------------
// plan: payments
// ---------------------------------------------------------------------------------------------

#[test]
fn a_payment_from_a_known_customer_is_recorded_under_that_customer() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let p = plan(&event, &state_with_customer());
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::RecordTransaction {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            txn: txn_of(&event),
            amount_refunded: 0,
            removed_reason: None,
        }]
    );
}

#[test]
fn a_payment_with_an_unknown_key_and_a_new_partner_creates_partner_and_customer() {
    let event = classified(&payment_succeeded(
        TXN_ID,
        5000,
        Some(CUSTOMER_KEY),
        Some(PARTNER_KEY),
    ));
    let p = plan(&event, &State::default());
    assert_eq!(p.outcome, Outcome::Processed);
    let mut expected = new_customer_changes(true);
    expected.push(Change::RecordTransaction {
        customer: CustomerTarget::New {
            key: CUSTOMER_KEY.into(),
        },
        txn: txn_of(&event),
        amount_refunded: 0,
        removed_reason: None,
    });
    assert_eq!(p.changes, expected);
}

#[test]
fn a_payment_with_an_unknown_key_and_an_existing_partner_does_not_create_the_partner() {
    let event = classified(&payment_succeeded(
        TXN_ID,
        5000,
        Some(CUSTOMER_KEY),
        Some(PARTNER_KEY),
    ));
    let state = State {
        partner_exists: true,
        ..State::default()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert!(
        !p.changes
            .iter()
            .any(|c| matches!(c, Change::CreatePartner { .. })),
        "{:?}",
        p.changes
    );
    let mut expected = new_customer_changes(false);
    expected.push(Change::RecordTransaction {
        customer: CustomerTarget::New {
            key: CUSTOMER_KEY.into(),
        },
        txn: txn_of(&event),
        amount_refunded: 0,
        removed_reason: None,
    });
    assert_eq!(p.changes, expected);
}

#[test]
fn a_payment_with_an_unknown_key_and_no_partner_is_unmatched_naming_the_key() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let p = plan(&event, &State::default());
    assert!(unmatched_reason(&p).contains(CUSTOMER_KEY));
    assert!(p.changes.is_empty());
}

#[test]
fn a_payment_with_no_customer_key_at_all_is_unmatched() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, None, Some(PARTNER_KEY)));
    let p = plan(&event, &State::default());
    assert!(unmatched_reason(&p).contains("customer_key"));
    assert!(p.changes.is_empty());
}

#[test]
fn a_payment_with_no_key_is_matched_by_chargebee_customer_id() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, None, None));
    let state = State {
        customer_by_chargebee_id: Some(known_customer(true)),
        ..State::default()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::RecordTransaction {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            txn: txn_of(&event),
            amount_refunded: 0,
            removed_reason: None,
        }]
    );
}

#[test]
fn an_already_recorded_payment_is_ignored() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let state = State {
        transaction: Some(recorded_txn(5000, 0)),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert!(ignored_reason(&p).contains(TXN_ID));
    assert!(p.changes.is_empty());
}

#[test]
fn a_payment_after_its_failure_is_recorded_as_removed_failed() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let state = State {
        transaction: Some(failure_tombstone()),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::RecordTransaction {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            txn: txn_of(&event),
            amount_refunded: 0,
            removed_reason: Some("failed".into()),
        }]
    );
}

#[test]
fn a_payment_after_its_full_refund_is_recorded_as_removed_refunded() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let state = State {
        refunded_so_far: 5000,
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(
        p.changes,
        vec![Change::RecordTransaction {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            txn: txn_of(&event),
            amount_refunded: 5000,
            removed_reason: Some("refunded".into()),
        }]
    );
}

#[test]
fn refunds_known_before_the_payment_are_capped_at_its_amount() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let state = State {
        refunded_so_far: 7000,
        ..state_with_customer()
    };
    match &plan(&event, &state).changes[..] {
        [Change::RecordTransaction {
            amount_refunded,
            removed_reason,
            ..
        }] => {
            assert_eq!(*amount_refunded, 5000);
            assert_eq!(removed_reason.as_deref(), Some("refunded"));
        }
        other => panic!("expected one RecordTransaction, got {other:?}"),
    }
}

#[test]
fn a_payment_after_a_partial_refund_is_recorded_with_the_refund_and_kept() {
    let event = classified(&payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None));
    let state = State {
        refunded_so_far: 2000,
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(
        p.changes,
        vec![Change::RecordTransaction {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            txn: txn_of(&event),
            amount_refunded: 2000,
            removed_reason: None,
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// plan: refunds
// ---------------------------------------------------------------------------------------------

fn record_refund(amount: i64) -> Change {
    Change::RecordRefund {
        refund_txn_id: REFUND_ID.into(),
        original_txn_id: TXN_ID.into(),
        amount,
        currency: "USD".into(),
        date: TXN_DATE + 86_400,
    }
}

#[test]
fn a_full_refund_of_a_recorded_payment_removes_it() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        5000,
        Some(CUSTOMER_KEY),
    ));
    let state = State {
        transaction: Some(recorded_txn(5000, 0)),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![
            record_refund(5000),
            Change::AdjustTransaction {
                txn_id: TXN_ID.into(),
                amount_refunded: 5000,
                removed_reason: Some("refunded".into()),
            }
        ]
    );
}

#[test]
fn a_partial_refund_of_a_recorded_payment_sets_the_refunded_amount_and_keeps_it() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        2000,
        Some(CUSTOMER_KEY),
    ));
    let state = State {
        transaction: Some(recorded_txn(5000, 0)),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(
        p.changes,
        vec![
            record_refund(2000),
            Change::AdjustTransaction {
                txn_id: TXN_ID.into(),
                amount_refunded: 2000,
                removed_reason: None,
            }
        ]
    );
}

#[test]
fn two_partial_refunds_that_add_up_to_the_payment_remove_it() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        2000,
        Some(CUSTOMER_KEY),
    ));
    let state = State {
        transaction: Some(recorded_txn(5000, 3000)),
        refunded_so_far: 3000,
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(
        p.changes,
        vec![
            record_refund(2000),
            Change::AdjustTransaction {
                txn_id: TXN_ID.into(),
                amount_refunded: 5000,
                removed_reason: Some("refunded".into()),
            }
        ]
    );
}

#[test]
fn a_refund_of_a_payment_removed_as_failed_keeps_the_failed_reason() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        5000,
        Some(CUSTOMER_KEY),
    ));
    let mut txn = recorded_txn(5000, 0);
    txn.removed_reason = Some("failed".into());
    let state = State {
        transaction: Some(txn),
        ..state_with_customer()
    };
    match &plan(&event, &state).changes[..] {
        [Change::RecordRefund { .. }, Change::AdjustTransaction {
            amount_refunded,
            removed_reason,
            ..
        }] => {
            assert_eq!(*amount_refunded, 5000);
            assert_eq!(removed_reason.as_deref(), Some("failed"));
        }
        other => panic!("expected RecordRefund + AdjustTransaction, got {other:?}"),
    }
}

#[test]
fn a_refund_already_counted_is_ignored() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        2000,
        Some(CUSTOMER_KEY),
    ));
    let state = State {
        transaction: Some(recorded_txn(5000, 2000)),
        refund_known: true,
        refunded_so_far: 2000,
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert!(ignored_reason(&p).contains(REFUND_ID));
    assert!(p.changes.is_empty());
}

#[test]
fn a_refund_that_arrives_before_its_payment_is_only_remembered() {
    let event = classified(&payment_refunded(
        REFUND_ID,
        TXN_ID,
        2000,
        Some(CUSTOMER_KEY),
    ));
    let p = plan(&event, &state_with_customer());
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(p.changes, vec![record_refund(2000)]);
}

#[test]
fn a_refund_naming_no_original_transaction_is_unmatched() {
    let mut v = payment_refunded(REFUND_ID, TXN_ID, 2000, Some(CUSTOMER_KEY));
    v["content"]["transaction"]
        .as_object_mut()
        .unwrap()
        .remove("refunded_txn_id");
    v["content"].as_object_mut().unwrap().remove("invoice");
    let p = plan(&classified(&v), &state_with_customer());
    assert!(unmatched_reason(&p).contains(REFUND_ID));
    assert!(p.changes.is_empty());
}

// ---------------------------------------------------------------------------------------------
// plan: failures
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failure_of_a_recorded_payment_removes_it_as_failed() {
    let event = classified(&payment_failed(TXN_ID, 5000, Some(CUSTOMER_KEY)));
    let state = State {
        transaction: Some(recorded_txn(5000, 1000)),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::AdjustTransaction {
            txn_id: TXN_ID.into(),
            amount_refunded: 1000,
            removed_reason: Some("failed".into()),
        }]
    );
}

#[test]
fn a_failure_of_an_unknown_payment_is_remembered() {
    let event = classified(&payment_failed(TXN_ID, 5000, Some(CUSTOMER_KEY)));
    let p = plan(&event, &State::default());
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::MarkFailed {
            txn_id: TXN_ID.into()
        }]
    );
}

#[test]
fn a_failure_of_an_already_removed_payment_is_ignored() {
    let event = classified(&payment_failed(TXN_ID, 5000, Some(CUSTOMER_KEY)));
    let state = State {
        transaction: Some(failure_tombstone()),
        ..State::default()
    };
    let p = plan(&event, &state);
    assert!(ignored_reason(&p).contains(TXN_ID));
    assert!(p.changes.is_empty());
}

// ---------------------------------------------------------------------------------------------
// plan: subscriptions
// ---------------------------------------------------------------------------------------------

fn subscription_changed(resource_version: i64) -> BillingEvent {
    classified(&subscription_event(
        "subscription_changed",
        subscription_pc2_json("active", resource_version),
        Some(customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None)),
    ))
}

#[test]
fn a_subscription_event_older_than_the_stored_version_is_ignored() {
    let event = subscription_changed(SUB_RV);
    let state = State {
        subscription_version: Some(SUB_RV + 1),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert!(ignored_reason(&p).contains(SUB_ID));
    assert!(p.changes.is_empty());
}

#[test]
fn a_newer_subscription_event_upserts_the_subscription() {
    let event = subscription_changed(SUB_RV);
    let state = State {
        subscription_version: Some(SUB_RV - 1),
        ..state_with_customer()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::UpsertSubscription {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            subscription: subscription_of(&event),
        }]
    );
}

#[test]
fn a_first_subscription_event_upserts_the_subscription() {
    let event = subscription_changed(SUB_RV);
    let p = plan(&event, &state_with_customer());
    match &p.changes[..] {
        [Change::UpsertSubscription {
            customer,
            subscription,
        }] => {
            assert_eq!(*customer, CustomerTarget::Existing(OUR_CUSTOMER_ID.into()));
            assert_eq!(subscription.plan_key.as_deref(), Some("growth-USD-Monthly"));
            assert_eq!(subscription.version, SUB_RV);
        }
        other => panic!("expected one UpsertSubscription, got {other:?}"),
    }
}

#[test]
fn a_cancellation_upserts_the_subscription_as_cancelled() {
    // The payload's status may lag behind the event; the event type decides.
    let event = classified(&subscription_event(
        "subscription_cancelled",
        subscription_pc2_json("non_renewing", SUB_RV),
        Some(customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None)),
    ));
    let p = plan(&event, &state_with_customer());
    let mut expected = subscription_of(&event);
    assert_eq!(expected.status, "non_renewing");
    expected.status = "cancelled".into();
    assert_eq!(
        p.changes,
        vec![Change::UpsertSubscription {
            customer: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
            subscription: expected,
        }]
    );
}

#[test]
fn a_deletion_leaves_a_tombstone_even_without_a_customer() {
    let event = classified(&subscription_event(
        "subscription_deleted",
        subscription_pc2_json("cancelled", SUB_RV),
        None,
    ));
    let p = plan(&event, &State::default());
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![Change::DeleteSubscription {
            subscription_id: SUB_ID.into(),
            version: SUB_RV,
        }]
    );
}

#[test]
fn a_deletion_older_than_the_stored_version_is_ignored() {
    let event = classified(&subscription_event(
        "subscription_deleted",
        subscription_pc2_json("cancelled", SUB_RV),
        None,
    ));
    let state = State {
        subscription_version: Some(SUB_RV + 5_000),
        ..State::default()
    };
    let p = plan(&event, &state);
    ignored_reason(&p);
    assert!(p.changes.is_empty());
}

#[test]
fn a_subscription_of_an_unknown_customer_without_partner_is_unmatched() {
    let event = subscription_changed(SUB_RV);
    let p = plan(&event, &State::default());
    assert!(unmatched_reason(&p).contains(CUSTOMER_KEY));
    assert!(p.changes.is_empty());
}

#[test]
fn a_subscription_of_a_new_customer_with_a_partner_creates_them_first() {
    let event = classified(&subscription_event(
        "subscription_created",
        subscription_pc1_json("active", SUB_RV),
        Some(customer_json(
            CB_CUSTOMER_ID,
            Some(CUSTOMER_KEY),
            Some(PARTNER_KEY),
        )),
    ));
    let p = plan(&event, &State::default());
    let mut expected = new_customer_changes(true);
    expected.push(Change::UpsertSubscription {
        customer: CustomerTarget::New {
            key: CUSTOMER_KEY.into(),
        },
        subscription: subscription_of(&event),
    });
    assert_eq!(p.changes, expected);
}

// ---------------------------------------------------------------------------------------------
// plan: customers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_customer_change_older_than_the_stored_version_is_ignored() {
    let mut c = customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    c["resource_version"] = json!(CUSTOMER_RV - 1);
    let event = classified(&customer_event("customer_changed", c));
    let p = plan(&event, &state_with_customer());
    assert!(ignored_reason(&p).contains(CUSTOMER_KEY));
    assert!(p.changes.is_empty());
}

#[test]
fn a_customer_event_for_a_customer_without_partner_attaches_the_partner() {
    let event = classified(&customer_event(
        "customer_changed",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some(PARTNER_KEY)),
    ));
    let state = State {
        customer_by_key: Some(known_customer(false)),
        partner_exists: true,
        ..State::default()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(
        p.changes,
        vec![
            Change::SaveCustomer {
                target: CustomerTarget::Existing(OUR_CUSTOMER_ID.into()),
                email: Some("john@acmetest.com".into()),
                name: Some("John Doe".into()),
                chargebee_id: Some(CB_CUSTOMER_ID.into()),
                partner_key: Some(PARTNER_KEY.into()),
                version: Some(CUSTOMER_RV),
            },
            Change::ReleaseParked {
                customer_key: CUSTOMER_KEY.into(),
                chargebee_id: Some(CB_CUSTOMER_ID.into()),
            }
        ]
    );
}

#[test]
fn attaching_a_partner_that_does_not_exist_creates_it_first() {
    let event = classified(&customer_event(
        "customer_changed",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some(PARTNER_KEY)),
    ));
    let state = State {
        customer_by_key: Some(known_customer(false)),
        partner_exists: false,
        ..State::default()
    };
    let p = plan(&event, &state);
    assert_eq!(
        p.changes.first(),
        Some(&Change::CreatePartner {
            key: PARTNER_KEY.into()
        })
    );
    assert_eq!(p.changes.len(), 3);
}

#[test]
fn a_customer_event_does_not_change_an_existing_partner_attribution() {
    let event = classified(&customer_event(
        "customer_changed",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some("other-partner")),
    ));
    let p = plan(&event, &state_with_customer());
    assert!(
        !p.changes
            .iter()
            .any(|c| matches!(c, Change::CreatePartner { .. })),
        "{:?}",
        p.changes
    );
    match p.changes.first() {
        Some(Change::SaveCustomer {
            target,
            partner_key,
            ..
        }) => {
            assert_eq!(*target, CustomerTarget::Existing(OUR_CUSTOMER_ID.into()));
            assert_eq!(*partner_key, None);
        }
        other => panic!("expected SaveCustomer first, got {other:?}"),
    }
}

#[test]
fn a_customer_event_without_key_updates_the_customer_found_by_chargebee_id() {
    let event = classified(&customer_event(
        "customer_changed",
        customer_json(CB_CUSTOMER_ID, None, None),
    ));
    let state = State {
        customer_by_chargebee_id: Some(known_customer(true)),
        ..State::default()
    };
    let p = plan(&event, &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert!(matches!(
        p.changes.first(),
        Some(Change::SaveCustomer {
            target: CustomerTarget::Existing(id),
            ..
        }) if id == OUR_CUSTOMER_ID
    ));
    assert_eq!(
        p.changes.last(),
        Some(&Change::ReleaseParked {
            customer_key: CUSTOMER_KEY.into(),
            chargebee_id: Some(CB_CUSTOMER_ID.into()),
        })
    );
}

#[test]
fn customer_created_with_an_unknown_key_and_a_partner_creates_the_customer() {
    let event = classified(&customer_event(
        "customer_created",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), Some(PARTNER_KEY)),
    ));
    let p = plan(&event, &State::default());
    assert_eq!(p.outcome, Outcome::Processed);
    assert_eq!(p.changes, new_customer_changes(true));
}

#[test]
fn customer_created_with_an_unknown_key_and_no_partner_is_unmatched() {
    let event = classified(&customer_event(
        "customer_created",
        customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None),
    ));
    let p = plan(&event, &State::default());
    assert!(unmatched_reason(&p).contains(CUSTOMER_KEY));
    assert!(p.changes.is_empty());
}

// ---------------------------------------------------------------------------------------------
// currency_decimals
// ---------------------------------------------------------------------------------------------

#[test]
fn currency_decimals_follow_iso_4217() {
    assert_eq!(currency_decimals("JPY"), 0);
    assert_eq!(currency_decimals("USD"), 2);
    assert_eq!(currency_decimals("EUR"), 2);
    assert_eq!(currency_decimals("KWD"), 3);
}

#[test]
fn currency_decimals_accept_lowercase_codes() {
    assert_eq!(currency_decimals("jpy"), 0);
    assert_eq!(currency_decimals("kwd"), 3);
    assert_eq!(currency_decimals("usd"), 2);
}

// ---------------------------------------------------------------------------------------------
// Hostile values at the edge: amounts, currencies, ids
// ---------------------------------------------------------------------------------------------

fn with_amount(amount: Value) -> Value {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), Some(PARTNER_KEY));
    v["content"]["transaction"]["amount"] = amount;
    v
}

fn invalid_reason(v: &Value) -> String {
    let err = classify(&envelope(v)).unwrap_err();
    assert!(err.is_invalid(), "expected an invalid value, got {err:?}");
    err.0
}

#[test]
fn a_fractional_amount_is_refused_not_truncated() {
    let why = invalid_reason(&with_amount(json!(12.99)));
    assert!(
        why.contains("transaction.amount") && why.contains("whole"),
        "{why}"
    );
    assert!(why.contains(TXN_ID), "{why}");
}

#[test]
fn a_negative_amount_is_refused() {
    let why = invalid_reason(&with_amount(json!(-5000)));
    assert!(why.contains("negative"), "{why}");
}

#[test]
fn an_amount_above_ten_to_the_twelve_is_refused() {
    let why = invalid_reason(&with_amount(json!(i64::MAX)));
    assert!(why.contains("largest accepted amount"), "{why}");
    let why = invalid_reason(&with_amount(json!(MAX_AMOUNT + 1)));
    assert!(why.contains("largest accepted amount"), "{why}");
    assert_eq!(
        txn_of(&classified(&with_amount(json!(MAX_AMOUNT)))).amount,
        MAX_AMOUNT
    );
    assert_eq!(txn_of(&classified(&with_amount(json!(0)))).amount, 0);
}

#[test]
fn an_amount_given_as_a_string_is_refused() {
    let why = invalid_reason(&with_amount(json!("5000")));
    assert!(why.contains("not a string"), "{why}");
}

#[test]
fn a_negative_refund_is_refused() {
    let mut v = payment_refunded(REFUND_ID, TXN_ID, 100, Some(CUSTOMER_KEY));
    v["content"]["transaction"]["amount"] = json!(-100000);
    let why = invalid_reason(&v);
    assert!(why.contains("negative") && why.contains(REFUND_ID), "{why}");
}

#[test]
fn a_currency_that_is_not_three_letters_is_refused() {
    for bad in [json!("US"), json!("USDX"), json!("U$D"), json!(840)] {
        let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
        v["content"]["transaction"]["currency_code"] = bad.clone();
        let why = invalid_reason(&v);
        assert!(why.contains("currency_code"), "{bad}: {why}");
    }
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"]["transaction"]["currency_code"] = json!("eur");
    assert_eq!(txn_of(&classified(&v)).currency, "EUR");
}

#[test]
fn ids_and_keys_with_control_characters_or_over_255_bytes_are_refused_naming_the_field() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"]["transaction"]["id"] = json!("txn_\u{0}");
    assert!(invalid_reason(&v).contains("transaction.id"));
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["content"]["customer"]["meta_data"]["customer_key"] = json!("k".repeat(256));
    let why = invalid_reason(&v);
    assert!(
        why.contains("customer.meta_data.customer_key") && why.contains("255"),
        "{why}"
    );
    let mut v = subscription_event(
        "subscription_created",
        subscription_pc1_json("active", SUB_RV),
        None,
    );
    v["content"]["subscription"]["id"] = json!("sub\u{1b}[31m");
    assert!(invalid_reason(&v).contains("subscription.id"));
}

#[test]
fn an_envelope_id_with_a_nul_is_rejected_naming_the_field() {
    let mut v = payment_succeeded(TXN_ID, 5000, Some(CUSTOMER_KEY), None);
    v["id"] = json!("ev_\u{0}");
    let (rejection, _) = parse_envelope(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::InvalidField("id", "contains a control character".into())
    );
    assert_eq!(peek_id_and_type(&v).0, None);
    v["id"] = json!("e".repeat(300));
    assert!(matches!(
        parse_envelope(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .0,
        Rejection::InvalidField("id", _)
    ));
}

#[test]
fn names_lose_control_characters_and_are_cut_to_200_characters() {
    let mut c = customer_json(CB_CUSTOMER_ID, Some(CUSTOMER_KEY), None);
    c["first_name"] = json!("Ada\u{0}");
    c["last_name"] = json!("L".repeat(500));
    let customer = customer_of(&classified(&customer_event("customer_changed", c)));
    let name = customer.name.unwrap();
    assert!(name.starts_with("Ada L"), "{name}");
    assert!(!name.contains('\u{0}'));
}

#[test]
fn an_event_type_the_ledger_ignores_is_not_checked_further() {
    let v = event_json(
        "ev_other",
        "invoice_generated",
        json!({"customer": {"id": "\u{0}"}}),
    );
    assert_eq!(classified(&v), BillingEvent::Other);
}

// ---------------------------------------------------------------------------------------------
// Refunds and currencies
// ---------------------------------------------------------------------------------------------

fn refund_event(amount: i64, currency: &str) -> BillingEvent {
    let mut v = payment_refunded(REFUND_ID, TXN_ID, amount, Some(CUSTOMER_KEY));
    v["content"]["transaction"]["currency_code"] = json!(currency);
    classified(&v)
}

#[test]
fn a_refund_in_another_currency_than_its_payment_is_rejected_and_changes_nothing() {
    let state = State {
        transaction: Some(recorded_txn(1000, 0)),
        transaction_currency: Some("USD".into()),
        ..state_with_customer()
    };
    let p = plan(&refund_event(500, "EUR"), &state);
    match &p.outcome {
        Outcome::Rejected(why) => {
            assert!(why.contains("EUR") && why.contains("USD"), "{why}")
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert!(p.changes.is_empty());
}

#[test]
fn a_refund_in_the_payment_currency_is_applied() {
    let state = State {
        transaction: Some(recorded_txn(1000, 0)),
        transaction_currency: Some("USD".into()),
        ..state_with_customer()
    };
    let p = plan(&refund_event(400, "USD"), &state);
    assert_eq!(p.outcome, Outcome::Processed);
    assert!(p.changes.contains(&Change::AdjustTransaction {
        txn_id: TXN_ID.into(),
        amount_refunded: 400,
        removed_reason: None,
    }));
}

#[test]
fn refunds_never_take_the_refunded_amount_above_the_payment_even_near_the_integer_limit() {
    let state = State {
        transaction: Some(recorded_txn(1000, 900)),
        transaction_currency: Some("USD".into()),
        refunded_so_far: i64::MAX,
        ..state_with_customer()
    };
    let p = plan(&refund_event(MAX_AMOUNT, "USD"), &state);
    assert!(p.changes.contains(&Change::AdjustTransaction {
        txn_id: TXN_ID.into(),
        amount_refunded: 1000,
        removed_reason: Some("refunded".into()),
    }));
}

#[test]
fn a_payment_marks_earlier_refunds_in_another_currency_as_rejected() {
    let state = State {
        other_currency_refunds: 1,
        refunded_so_far: 0,
        ..state_with_customer()
    };
    let p = plan(
        &classified(&payment_succeeded(TXN_ID, 1000, Some(CUSTOMER_KEY), None)),
        &state,
    );
    assert_eq!(p.outcome, Outcome::Processed);
    assert!(p.changes.contains(&Change::RejectRefunds {
        original_txn_id: TXN_ID.into(),
        currency: "USD".into(),
    }));
    let p = plan(
        &classified(&payment_succeeded(TXN_ID, 1000, Some(CUSTOMER_KEY), None)),
        &state_with_customer(),
    );
    assert!(!p
        .changes
        .iter()
        .any(|c| matches!(c, Change::RejectRefunds { .. })));
}
