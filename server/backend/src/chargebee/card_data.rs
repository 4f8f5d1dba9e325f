//! Card data never reaches storage. Pure: a JSON tree in, the same tree without card data out.
//!
//! Three defences, because card data arrives in more shapes than one:
//! 1. **Keys.** Objects and fields whose key names card data (`card`, `number`, `cvc`,
//!    `exp_month`, …) are removed wherever they are nested. Keys are compared after folding
//!    case and dropping `_`/`-`, so `Card`, `CARD_NUMBER` and `cardNumber` all match.
//! 2. **JSON inside strings.** Chargebee sends some objects JSON-encoded in a string
//!    (`transaction.payment_method_details`, sometimes `meta_data`). A string that holds a JSON
//!    object or array is parsed, cleaned the same way, and written back.
//! 3. **Numbers in free text.** In every string value, a run of 13–19 digits (single spaces or
//!    dashes allowed between groups) that passes the Luhn check is replaced by [`MASK`]. This
//!    catches card numbers in `error_text`, notes and custom fields.
//!
//! Two deliberate exceptions to 3: values of **identifier fields** (`id`, `…_id`, `…_key`,
//! such as `customer_key`) are never rewritten, because about one in ten 13–19 digit numbers
//! passes Luhn and numeric ids are common: masking them would give different customers one
//! key. And JSON **numbers** are not scanned: millisecond timestamps (`resource_version`) are
//! 13 digits long. Card fields are removed by their keys either way.

use serde_json::Value;

/// What a card number in text is replaced with.
pub const MASK: &str = "[card number removed]";

/// Card-data keys, folded (lower case, no `_` or `-`).
const CARD_KEYS: &[&str] = &[
    "card",
    "cards",
    "cardnumber",
    "number",
    "maskednumber",
    "maskedcardnumber",
    "iin",
    "bin",
    "last4",
    "lastfour",
    "expirymonth",
    "expiryyear",
    "expmonth",
    "expyear",
    "expiry",
    "expirationdate",
    "expirationmonth",
    "expirationyear",
    "cardtype",
    "cardbrand",
    "fundingtype",
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cid",
    "securitycode",
    "cardsecuritycode",
    "pan",
    "primaryaccountnumber",
    "track1",
    "track2",
    "firstnameoncard",
    "lastnameoncard",
    "nameoncard",
    "cardholdername",
    "cardholder",
];

/// How deep JSON-inside-a-string is followed (a string holding JSON holding a string …).
const MAX_STRING_NESTING: usize = 4;

fn fold(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `key` names card data.
pub fn is_card_key(key: &str) -> bool {
    let folded = fold(key);
    CARD_KEYS.contains(&folded.as_str())
}

/// Whether `key` names an identifier (`id`, `customer_id`, `id_at_gateway`, `customer_key`,
/// `cf_partner_key`, …), whose value is never rewritten.
pub fn is_identifier_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let camel = |suffix: &str| key.ends_with(suffix) && key.len() > suffix.len();
    matches!(lower.as_str(), "id" | "key")
        || lower.ends_with("_id")
        || lower.ends_with("-id")
        || lower.starts_with("id_")
        || lower.ends_with("_key")
        || lower.ends_with("-key")
        || camel("Id")
        || camel("Key")
}

/// Removes card data from `value` in place (see the module comment). Returns how many fields
/// were removed or strings masked.
pub fn strip_card_data(value: &mut Value) -> usize {
    strip(value, 0)
}

fn strip(value: &mut Value, nesting: usize) -> usize {
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| !is_card_key(k));
            let mut removed = before - map.len();
            for (k, v) in map.iter_mut() {
                removed += match v {
                    Value::String(_) if is_identifier_key(k) => 0,
                    _ => strip(v, nesting),
                };
            }
            removed
        }
        Value::Array(items) => items.iter_mut().map(|v| strip(v, nesting)).sum(),
        Value::String(s) => {
            let mut changed = 0;
            if nesting < MAX_STRING_NESTING {
                let t = s.trim_start();
                if t.starts_with('{') || t.starts_with('[') {
                    if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                        let n = strip(&mut inner, nesting + 1);
                        if n > 0 {
                            *s = inner.to_string();
                            return n;
                        }
                    }
                }
            }
            if let Some(masked) = mask_card_numbers(s) {
                *s = masked;
                changed += 1;
            }
            changed
        }
        _ => 0,
    }
}

/// The Luhn check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut n = u32::from(d - b'0');
        if i % 2 == 1 {
            n *= 2;
            if n > 9 {
                n -= 9;
            }
        }
        sum += n;
    }
    sum.is_multiple_of(10)
}

/// A maximal run of ASCII digits in a string: byte offsets `[start, end)`.
#[derive(Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

/// Replaces card numbers in free text with [`MASK`]; `None` when there are none.
///
/// Digit groups are maximal runs of ASCII digits; consecutive groups joined by exactly one
/// space or dash may form one number ("4111 1111 1111 1111", "3782-822463-10005"). From each
/// group, the longest window of consecutive groups with 13–19 digits that passes Luhn is
/// masked; a single group of more than 19 digits is not a card number.
pub fn mask_card_numbers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.iter().filter(|b| b.is_ascii_digit()).count() < 13 {
        return None;
    }
    let mut groups: Vec<Group> = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(Group { start, end: i });
        } else {
            i += 1;
        }
    }
    // Groups that may be joined: separated by exactly one space or dash.
    let joined = |a: &Group, b: &Group| b.start == a.end + 1 && matches!(bytes[a.end], b' ' | b'-');
    let mut spans: Vec<(usize, usize)> = vec![];
    let mut g = 0;
    while g < groups.len() {
        let mut best: Option<usize> = None;
        let mut digits: Vec<u8> = vec![];
        let mut j = g;
        loop {
            let grp = groups[j];
            digits.extend_from_slice(&bytes[grp.start..grp.end]);
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && luhn_valid(&digits) {
                best = Some(j);
            }
            if j + 1 < groups.len() && joined(&groups[j], &groups[j + 1]) {
                j += 1;
            } else {
                break;
            }
        }
        match best {
            Some(last) => {
                spans.push((groups[g].start, groups[last].end));
                g = last + 1;
            }
            None => g += 1,
        }
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_naming_card_data_match_in_any_case_and_spelling() {
        for k in [
            "card",
            "Card",
            "CARD",
            "number",
            "Number",
            "cvc",
            "CVV",
            "exp_month",
            "expMonth",
            "exp-year",
            "cardNumber",
            "card_number",
            "last4",
            "Last_4",
            "masked_number",
        ] {
            assert!(is_card_key(k), "{k}");
        }
        for k in [
            "id",
            "amount",
            "customer_id",
            "vat_number",
            "po_number",
            "payment_method",
            "reference_id",
            "invoice_id",
            "error_text",
        ] {
            assert!(!is_card_key(k), "{k}");
        }
    }

    #[test]
    fn identifiers_that_happen_to_pass_luhn_are_never_rewritten() {
        // 4111111111111111 passes Luhn; as an id or key it is left alone.
        let mut v = json!({
            "customer": {"id": "4111111111111111", "meta_data": {"customer_key": "4111111111111111"},
                "cf_partner_key": "4111111111111111", "notes": "4111111111111111"},
            "transaction": {"id_at_gateway": "4111111111111111", "subscription_id": "4111111111111111",
                "resource_version": 4_111_111_111_111_111_u64}
        });
        assert_eq!(strip_card_data(&mut v), 1);
        assert_eq!(v["customer"]["id"], "4111111111111111");
        assert_eq!(
            v["customer"]["meta_data"]["customer_key"],
            "4111111111111111"
        );
        assert_eq!(v["customer"]["cf_partner_key"], "4111111111111111");
        assert_eq!(v["transaction"]["id_at_gateway"], "4111111111111111");
        assert_eq!(v["transaction"]["subscription_id"], "4111111111111111");
        assert_eq!(
            v["transaction"]["resource_version"],
            4_111_111_111_111_111_u64
        );
        assert_eq!(v["customer"]["notes"], MASK);
        for k in [
            "id",
            "customer_id",
            "customerId",
            "customer_key",
            "id_at_gateway",
        ] {
            assert!(is_identifier_key(k), "{k}");
        }
        for k in [
            "notes",
            "error_text",
            "description",
            "email",
            "amount_paid",
            "valid",
        ] {
            assert!(!is_identifier_key(k), "{k}");
        }
    }

    #[test]
    fn card_objects_are_removed_whatever_the_case_of_their_key() {
        let mut v = json!({"Card": {"Number": "4111111111111111"}, "amount": 100,
            "nested": [{"CVC": "123", "keep": 1}]});
        let n = strip_card_data(&mut v);
        assert_eq!(n, 2);
        assert_eq!(v, json!({"amount": 100, "nested": [{"keep": 1}]}));
    }

    #[test]
    fn json_inside_a_string_is_cleaned_and_written_back() {
        // Chargebee's `payment_method_details` is a JSON-encoded string.
        let details = json!({"card": {"first_name": "Ada", "last4": "1111", "iin": "411111",
            "brand": "visa", "expiry_month": 12}, "type": "card"})
        .to_string();
        let mut v = json!({"transaction": {"id": "txn_1", "payment_method_details": details}});
        assert!(strip_card_data(&mut v) > 0);
        let s = v["transaction"]["payment_method_details"].as_str().unwrap();
        let inner: Value = serde_json::from_str(s).unwrap();
        assert_eq!(inner, json!({"type": "card"}));
        assert_eq!(v["transaction"]["id"], "txn_1");
    }

    #[test]
    fn a_meta_data_string_with_a_card_number_is_cleaned() {
        let mut v = json!({"meta_data": "{\"customer_key\":\"c1\",\"cvv\":\"123\"}"});
        strip_card_data(&mut v);
        let inner: Value = serde_json::from_str(v["meta_data"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"customer_key": "c1"}));
    }

    #[test]
    fn a_string_that_looks_like_json_but_is_not_is_left_alone() {
        let mut v = json!({"note": "{not json at all"});
        assert_eq!(strip_card_data(&mut v), 0);
        assert_eq!(v["note"], "{not json at all");
    }

    #[test]
    fn card_numbers_in_free_text_are_masked_when_they_pass_luhn() {
        let mut v =
            json!({"error_text": "Card 4111 1111 1111 1111 was declined (ref 1234567890123)"});
        assert_eq!(strip_card_data(&mut v), 1);
        assert_eq!(
            v["error_text"],
            format!("Card {MASK} was declined (ref 1234567890123)")
        );
    }

    #[test]
    fn numbers_that_fail_luhn_or_are_too_short_or_long_stay() {
        assert_eq!(mask_card_numbers("4111111111111112"), None);
        assert_eq!(mask_card_numbers("411111111111"), None);
        assert_eq!(mask_card_numbers("order 12345678901234567890123"), None);
        assert_eq!(mask_card_numbers("at 1517505643 and 1702645601793"), None);
    }

    #[test]
    fn separators_dashes_and_several_numbers_in_one_string_are_handled() {
        assert_eq!(
            mask_card_numbers("amex 3782-822463-10005.").as_deref(),
            Some(format!("amex {MASK}.").as_str())
        );
        assert_eq!(
            mask_card_numbers("4111111111111111 5555555555554444").as_deref(),
            Some(format!("{MASK} {MASK}").as_str())
        );
        // A number glued to an id is still masked.
        assert_eq!(
            mask_card_numbers("txn_4111111111111111").as_deref(),
            Some(format!("txn_{MASK}").as_str())
        );
        // Two spaces do not join groups.
        assert_eq!(mask_card_numbers("4111  1111  1111  1111"), None);
    }

    #[test]
    fn luhn_accepts_known_test_numbers() {
        for n in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "4000056655665556",
        ] {
            assert!(luhn_valid(n.as_bytes()), "{n}");
        }
        assert!(!luhn_valid(b"4111111111111121"));
    }

    #[test]
    fn stripping_twice_changes_nothing_the_second_time() {
        let mut v = json!({"card": {}, "error_text": "4111111111111111",
            "pmd": "{\"card\":{\"last4\":\"1111\"}}"});
        assert!(strip_card_data(&mut v) > 0);
        let once = v.clone();
        assert_eq!(strip_card_data(&mut v), 0);
        assert_eq!(v, once);
    }

    #[test]
    fn deeply_nested_json_strings_stop_at_the_nesting_limit_without_failing() {
        let mut s = json!({"cvv": "1"}).to_string();
        for _ in 0..10 {
            s = json!({ "inner": s }).to_string();
        }
        let mut v = json!({ "x": s });
        // Beyond the limit the string is kept as text; nothing panics.
        strip_card_data(&mut v);
    }
}
