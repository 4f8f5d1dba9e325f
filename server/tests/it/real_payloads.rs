//! The 27 real Chargebee v2 webhook payloads in `tests/fixtures/chargebee-real/` (where each
//! comes from is in its `PROVENANCE.md`), delivered through the real server on both backends.
//!
//! Every file is delivered three ways, each to an organization of its own (several files share
//! event, customer and subscription ids, so sharing one would turn later deliveries into
//! duplicates or stale versions):
//! * **as sent**: the body Chargebee would POST. The file's bytes as they are, or its `.event`
//!   for the two files that hold an API retrieve response (`{"event": {...}}`).
//! * **keyed**: the same, with `customer_key` and `partner_key` in `content.customer.meta_data`.
//! * **existing customer**: only `customer_key`, for a customer created over the REST API first.
//!
//! The expected answers are the table [`CASES`]; each test collects every difference and fails
//! once, listing them all.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The webhook answer expected: HTTP status and `outcome` (`None`: an error answer, which
/// carries `{"error": ...}` and no outcome).
type Expect = (u16, Option<&'static str>);

const PROCESSED: Expect = (200, Some("processed"));
/// Parked until a customer with the key exists or a customer event supplies it.
const UNMATCHED: Expect = (200, Some("unmatched"));
/// A supported event whose content lacks what it needs: kept for retry and replay.
const FAILED: Expect = (200, Some("failed"));
/// Refused before processing (here: no event `id`), recorded as rejected.
const REJECTED: Expect = (400, None);

const CUSTOMER_KEY: &str = "ck_real";
const PARTNER_KEY: &str = "pk_real";

/// Keys that must not be left in any stored payload (compact JSON, so `"card":` is the key).
const CARD_KEYS: &[&str] = &[
    "\"card\":",
    "\"masked_number\"",
    "\"masked_card_number\"",
    "\"iin\"",
    "\"last4\"",
];

struct Case {
    file: &'static str,
    /// The file is an API retrieve response: Chargebee would POST its `.event`.
    unwrap_event: bool,
    /// Delivered as Chargebee sent it (none of these payloads carries a customer key).
    plain: Expect,
    /// With `customer_key` and `partner_key` set on `content.customer`.
    keyed: Expect,
    /// With only `customer_key`, the customer created over the REST API beforehand.
    existing_customer: Expect,
    /// Card values in the payload (masked numbers, IINs, last four digits, card brand) that
    /// the stored payload must not contain.
    card_values: &'static [&'static str],
}

const CASES: &[Case] = &[
    // Customer event without keys: parked; keyed creates the customer; known key updates it.
    Case {
        file: "customer_changed__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Customer with only `company` (no name, no email): same as any customer event.
    Case {
        file: "customer_created__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Chargebee docs sample (odd `}},` layout, still valid JSON): same as any customer event.
    Case {
        file: "customer_created__wttj-chargebeex__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // A failure is remembered by transaction id whoever the customer is: always processed.
    Case {
        file: "payment_failed__mock_chargebee__1.json",
        unwrap_event: false,
        plain: PROCESSED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &["************4810"],
    },
    // PrestaShop's own envelope (`eventType` + `data`): no `id`, no `content.customer` to key.
    Case {
        file: "payment_failed__prestashop-docs__1.json",
        unwrap_event: false,
        plain: REJECTED,
        keyed: REJECTED,
        existing_customer: REJECTED,
        card_values: &["************3184"],
    },
    // Truncated docs sample: the transaction has no `id`, so the event cannot be read: failed.
    Case {
        file: "payment_refunded__chargebee-apidocs__1.json",
        unwrap_event: false,
        plain: FAILED,
        keyed: FAILED,
        existing_customer: FAILED,
        card_values: &["american_express"],
    },
    // Refund of a payment never seen: remembered by `refunded_txn_id`, needs no customer.
    Case {
        file: "payment_refunded__mock_chargebee__1.json",
        unwrap_event: false,
        plain: PROCESSED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &["************1111"],
    },
    // Fragment without `id` (Hyperswitch trimmed the envelope): rejected even with keys.
    Case {
        file: "payment_succeeded__hyperswitch__1.json",
        unwrap_event: false,
        plain: REJECTED,
        keyed: REJECTED,
        existing_customer: REJECTED,
        card_values: &[],
    },
    // Offline cash payment: parked without a key, recorded with one (450000 USD).
    Case {
        file: "payment_succeeded__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // No `webhook_status`, customer.id differs from invoice.customer_id: irrelevant here.
    Case {
        file: "subscription_activated__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Plain subscription upsert: needs a customer.
    Case {
        file: "subscription_activated__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Cancellation is an upsert with status cancelled; Rails junk keys are ignored.
    Case {
        file: "subscription_cancelled__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Cancellation: needs a customer.
    Case {
        file: "subscription_cancelled__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // `credit_notes` array and `null` arrays in the content do not matter.
    Case {
        file: "subscription_changed__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // `re_scheduled` with `webhooks[]` and an object `subscription.meta_data`: still an upsert.
    Case {
        file: "subscription_changed__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Wrapped PC2 event with a full card object: the plan comes from `subscription_items`.
    Case {
        file: "subscription_created__chargebee-java__1.json",
        unwrap_event: true,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &["411111", "\"1111\"", "************1111"],
    },
    // Live capture with `webhook_status: failed`: an ordinary upsert.
    Case {
        file: "subscription_created__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Same event id as `__1` (hence an org per delivery); `cf_licensed_domains` is not a key.
    Case {
        file: "subscription_created__imazen-licensing__2.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // `status: future`: stored as it is.
    Case {
        file: "subscription_created__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Wrapped docs sample (converted from an Elixir map).
    Case {
        file: "subscription_created__wttj-chargebeex__1.json",
        unwrap_event: true,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Deletion keeps a tombstone by subscription id whoever the customer is: always processed.
    Case {
        file: "subscription_deleted__mock_chargebee__1.json",
        unwrap_event: false,
        plain: PROCESSED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Spliced ids (customer.id differs from subscription.customer_id): matched by our key.
    Case {
        file: "subscription_reactivated__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Plain upsert.
    Case {
        file: "subscription_reactivated__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Live capture with `affiliate_token`: plain upsert.
    Case {
        file: "subscription_renewed__imazen-licensing__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Leading space (sent as raw bytes); `customer: {}` names no one until the keys are added.
    Case {
        file: "subscription_renewed__justinchen00-page__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // Plain upsert (`linked_payments: []` on the invoice is not read).
    Case {
        file: "subscription_renewed__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
    // `in_trial` start: plain upsert.
    Case {
        file: "subscription_started__mock_chargebee__1.json",
        unwrap_event: false,
        plain: UNMATCHED,
        keyed: PROCESSED,
        existing_customer: PROCESSED,
        card_values: &[],
    },
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chargebee-real")
}

/// The file's bytes, exactly.
fn raw(case: &Case) -> Vec<u8> {
    let path = fixture_dir().join(case.file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The body Chargebee would POST: the file as it is, or its `.event` for a wrapped file.
fn as_sent(case: &Case) -> Vec<u8> {
    let bytes = raw(case);
    if !case.unwrap_event {
        return bytes;
    }
    let wrapped: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
    assert!(
        wrapped["event"].is_object(),
        "{} has no `event` object",
        case.file
    );
    serde_json::to_vec(&wrapped["event"]).unwrap()
}

/// The body as sent with our keys in `content.customer.meta_data` (an object is created when
/// it is absent or not an object). A body without a `content.customer` object stays as sent.
fn with_keys(case: &Case, partner_key: Option<&str>) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(&as_sent(case)).expect("fixture is JSON");
    if let Some(customer) = event
        .pointer_mut("/content/customer")
        .and_then(Value::as_object_mut)
    {
        let meta = customer.entry("meta_data").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        meta["customer_key"] = json!(CUSTOMER_KEY);
        if let Some(p) = partner_key {
            meta["partner_key"] = json!(p);
        }
    }
    serde_json::to_vec(&event).unwrap()
}

/// Posts `body` byte for byte (not re-serialized) to the organization's webhook URL.
async fn deliver_bytes(org: &TestOrg, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(&org.webhook_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What differs between a webhook answer and the expected one.
fn answer_mismatch(label: &str, expected: Expect, status: u16, body: &Value) -> Option<String> {
    let outcome = body["outcome"].as_str();
    let error_ok = expected.1.is_some() || body["error"].is_string();
    if (status, outcome) == expected && error_ok {
        return None;
    }
    Some(format!(
        "{label}: expected {} {:?}, got {status} {body}",
        expected.0, expected.1
    ))
}

/// Whether a processed event of this type files its changes under a customer (creating it
/// from the keys when needed). Failures, refunds and deletions are kept by transaction or
/// subscription id alone and create no customer.
fn attaches_customer(event_type: &str) -> bool {
    matches!(
        event_type,
        "payment_succeeded" | "customer_created" | "customer_changed"
    ) || (event_type.starts_with("subscription_") && event_type != "subscription_deleted")
}

/// Checks the transactions of [`CUSTOMER_KEY`]: exactly the payload's payment (id, amount and
/// currency as Chargebee sent them) when `recorded`, else none.
async fn ledger_mismatch(
    org: &TestOrg,
    label: &str,
    event: &Value,
    recorded: bool,
) -> Option<String> {
    let (status, body) = org
        .get(&format!("/customers/{CUSTOMER_KEY}/transactions"))
        .await;
    let expected: Vec<(Value, Value, Value)> = if recorded {
        let t = &event["content"]["transaction"];
        vec![(
            t["id"].clone(),
            t["amount"].clone(),
            t["currency_code"].clone(),
        )]
    } else {
        vec![]
    };
    let got: Vec<(Value, Value, Value)> = body["data"]
        .as_array()
        .map(|txns| {
            txns.iter()
                .map(|t| (t["id"].clone(), t["amount"].clone(), t["currency"].clone()))
                .collect()
        })
        .unwrap_or_default();
    if status == 200 && got == expected {
        return None;
    }
    Some(format!(
        "{label}: transactions of {CUSTOMER_KEY}: expected {expected:?}, got {status} {body}"
    ))
}

fn report(mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es) with the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_real_payload_file_has_one_row_and_the_right_shape_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut rows: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    rows.sort();
    assert_eq!(rows, files);
    assert_eq!(files.len(), 27);
    let mut wrong = vec![];
    for case in CASES {
        let value: Value = serde_json::from_slice(&raw(case)).expect("fixture is JSON");
        let wrapped = value
            .as_object()
            .is_some_and(|o| o.len() == 1 && o.contains_key("event"));
        if wrapped != case.unwrap_event {
            wrong.push(format!("{}: unwrap_event should be {wrapped}", case.file));
        }
    }
    report(&wrong);
}

both_backends!(
    real_payloads_as_chargebee_sent_them_get_the_expected_answer_and_no_card_data_is_stored,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let mut mismatches = vec![];
        for (i, case) in CASES.iter().enumerate() {
            let label = format!("{} [as sent]", case.file);
            let org = app.org(&format!("Real payloads {i}")).await;
            let (status, body) = deliver_bytes(&org, as_sent(case)).await;
            if let Some(m) = answer_mismatch(&label, case.plain, status, &body) {
                mismatches.push(m);
                continue;
            }
            // The stored event: ours from the answer, or the one rejected delivery.
            let id = match body["event"].as_str() {
                Some(id) => id.to_string(),
                None => {
                    let (_, list) = org.get("/webhook-events?outcome=rejected").await;
                    list["data"][0]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                }
            };
            let (s, stored) = org.get(&format!("/webhook-events/{id}")).await;
            let want = case.plain.1.unwrap_or("rejected");
            if s != 200 || stored["outcome"] != want {
                mismatches.push(format!(
                    "{label}: stored event {id}: expected {want}, got {s} {stored}"
                ));
                continue;
            }
            let payload = stored["payload"].to_string();
            for needle in CARD_KEYS.iter().chain(case.card_values) {
                if payload.contains(needle) {
                    mismatches.push(format!("{label}: stored payload contains {needle}"));
                }
            }
        }
        report(&mismatches);
    }
);

both_backends!(
    real_payloads_with_a_customer_and_partner_key_create_the_customer_and_record_the_payment,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let mut mismatches = vec![];
        for (i, case) in CASES.iter().enumerate() {
            let label = format!("{} [keyed]", case.file);
            let org = app.org(&format!("Real payloads {i}")).await;
            let sent = with_keys(case, Some(PARTNER_KEY));
            let event: Value = serde_json::from_slice(&sent).unwrap();
            let (status, body) = deliver_bytes(&org, sent).await;
            if let Some(m) = answer_mismatch(&label, case.keyed, status, &body) {
                mismatches.push(m);
                continue;
            }
            let event_type = event["event_type"].as_str().unwrap_or_default();
            let attached = case.keyed == PROCESSED && attaches_customer(event_type);
            let (s, customer) = org.get(&format!("/customers/{CUSTOMER_KEY}")).await;
            if attached && (s != 200 || customer["partner_key"] != PARTNER_KEY) {
                mismatches.push(format!(
                    "{label}: expected {CUSTOMER_KEY} of {PARTNER_KEY}, got {s} {customer}"
                ));
            } else if !attached && s != 404 {
                mismatches.push(format!(
                    "{label}: expected no customer {CUSTOMER_KEY}, got {s} {customer}"
                ));
            } else if attached {
                let recorded = event_type == "payment_succeeded";
                mismatches.extend(ledger_mismatch(&org, &label, &event, recorded).await);
            }
        }
        report(&mismatches);
    }
);

both_backends!(
    real_payloads_with_only_a_customer_key_apply_to_the_customer_created_over_the_api,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let mut mismatches = vec![];
        for (i, case) in CASES.iter().enumerate() {
            let label = format!("{} [existing customer]", case.file);
            let org = app.org(&format!("Real payloads {i}")).await;
            let (s, created) = org
                .send(
                    reqwest::Method::POST,
                    "/customers",
                    Some(json!({"key": CUSTOMER_KEY, "partner_key": PARTNER_KEY})),
                )
                .await;
            if s != 201 {
                mismatches.push(format!("{label}: creating the customer: {s} {created}"));
                continue;
            }
            let sent = with_keys(case, None);
            let event: Value = serde_json::from_slice(&sent).unwrap();
            let (status, body) = deliver_bytes(&org, sent).await;
            if let Some(m) = answer_mismatch(&label, case.existing_customer, status, &body) {
                mismatches.push(m);
                continue;
            }
            let recorded =
                case.existing_customer == PROCESSED && event["event_type"] == "payment_succeeded";
            mismatches.extend(ledger_mismatch(&org, &label, &event, recorded).await);
        }
        report(&mismatches);
    }
);
