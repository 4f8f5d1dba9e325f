//! The OpenAPI document: served without a key, the same as the code's, listing every route the
//! REST API has (and only those), each of them routed. Responses are checked against it in
//! every REST test (`contract.rs`, through `TestOrg::get`/`send`).

use crate::both_backends;
use crate::contract::document;
use crate::helpers::*;
use serde_json::Value;

/// Every operation of the REST API, as the issues that introduced them name them.
const OPERATIONS: &[(&str, &str)] = &[
    ("post", "/customers"),
    ("get", "/customers/{key}"),
    ("get", "/customers/{key}/transactions"),
    ("get", "/customers/{key}/subscriptions"),
    ("get", "/partners"),
    ("post", "/partners"),
    ("get", "/partners/{key}"),
    ("put", "/partners/{key}"),
    ("get", "/partners/{key}/balance"),
    ("get", "/partners/{key}/commission-terms"),
    ("put", "/partners/{key}/commission-terms"),
    ("delete", "/partners/{key}/commission-terms"),
    ("post", "/partners/{key}/commission-terms/preview"),
    ("get", "/partners/{key}/users"),
    ("post", "/partners/{key}/users"),
    ("delete", "/partners/{key}/users/{user_id}"),
    ("get", "/plans"),
    ("post", "/plans"),
    ("put", "/plans/{key}"),
    ("delete", "/plans/{key}"),
    ("get", "/integrations/chargebee"),
    ("put", "/integrations/chargebee"),
    ("post", "/integrations/chargebee/rotate"),
    ("get", "/webhook-events"),
    ("get", "/webhook-events/{event_id}"),
    ("post", "/webhook-events/{event_id}/replay"),
    ("get", "/commission-terms"),
    ("put", "/commission-terms"),
    ("post", "/commission-terms/preview"),
    ("get", "/commissions"),
    ("get", "/commissions/csv"),
    ("get", "/transactions/csv"),
    ("get", "/payouts"),
    ("post", "/payouts"),
    ("get", "/payouts/{id}"),
    ("get", "/payouts/{id}/csv"),
    ("post", "/payouts/{id}/paid"),
    ("post", "/payouts/{id}/cancel"),
    ("get", "/settings"),
    ("put", "/settings"),
    ("get", "/audit-log"),
    ("get", "/openapi.json"),
];

fn documented() -> Vec<(String, String)> {
    let mut out = vec![];
    for (path, item) in document()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_document_lists_every_operation_and_only_those() {
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented(), expected);
    assert_eq!(document()["openapi"], "3.1.0");
}

#[test]
fn every_operation_but_the_document_requires_a_key_and_documents_its_errors() {
    for (method, path) in documented() {
        let op = &document()["paths"][&path][&method];
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, path != "/openapi.json", "{method} {path}");
        if secured {
            for status in ["401", "404", "422", "503"] {
                assert!(
                    !op["responses"][status].is_null(),
                    "{method} {path} {status}"
                );
            }
        }
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
    }
}

both_backends!(
    the_document_is_served_without_a_key_and_every_path_in_it_is_routed,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let r = plain_client()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let served: Value = r.json().await.unwrap();
        assert_eq!(&served, document());
        // Each documented path is a route: a method it does not have answers 405 there,
        // where a path that is no route answers the API's 404.
        let org = app.org("Acme").await;
        let mut paths: Vec<String> = documented().into_iter().map(|(_, p)| p).collect();
        paths.dedup();
        for path in paths {
            let concrete = path
                .replace("{key}", "k1")
                .replace("{id}", "pay_1")
                .replace("{event_id}", "evt_1")
                .replace("{user_id}", "usr_1");
            let r = org
                .api
                .patch(app.url(&format!("/api/v1{concrete}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 405, "{path}");
        }
        let r = org
            .api
            .get(app.url("/api/v1/no-such-route"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);

#[test]
fn the_contract_check_refuses_what_the_document_does_not_say() {
    use crate::contract::check;
    let get = reqwest::Method::GET;
    let fails = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    // A conforming body passes.
    check(
        &get,
        "/api/v1/partners",
        200,
        "application/json",
        br#"{"data": []}"#,
    );
    // A wrong type, a missing field, an undocumented status or content type, an unknown path.
    assert!(fails(&|| check(
        &get,
        "/api/v1/partners",
        200,
        "application/json",
        br#"{"data": [{"key": 5}]}"#
    )));
    assert!(fails(&|| check(
        &get,
        "/api/v1/partners",
        200,
        "application/json",
        b"{}"
    )));
    assert!(fails(&|| check(
        &get,
        "/api/v1/partners",
        418,
        "application/json",
        br#"{"data": []}"#
    )));
    assert!(fails(&|| check(
        &get,
        "/api/v1/partners",
        200,
        "text/csv",
        b"a,b"
    )));
    assert!(fails(&|| check(
        &get,
        "/api/v1/nowhere",
        200,
        "application/json",
        b"{}"
    )));
    // Errors have their own shape.
    check(
        &get,
        "/api/v1/partners/p1",
        404,
        "application/json",
        br#"{"error": {"code": "not_found", "message": "no such resource"}}"#,
    );
    assert!(fails(&|| check(
        &get,
        "/api/v1/partners/p1",
        404,
        "application/json",
        br#"{"message": "no such resource"}"#
    )));
}
