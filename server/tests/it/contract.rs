//! The REST API's OpenAPI document as a contract for the tests: every response a REST test
//! receives through `TestOrg::get`/`send` must have a documented status, and a JSON body that
//! validates against that status's schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The document, as JSON.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(server::http::api::openapi()).unwrap())
}

/// The document's path template that `path` (under `/api/v1`, query stripped) matches.
pub fn template_of(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let paths = document()["paths"].as_object()?;
    // Literal segments beat parameters (`/commission-terms/preview` is not a `{key}`).
    let mut best: Option<(&'static str, usize)> = None;
    for template in paths.keys() {
        let t: Vec<&str> = template.split('/').collect();
        if t.len() != parts.len() {
            continue;
        }
        let mut literals = 0;
        let fits = t.iter().zip(&parts).all(|(t, p)| {
            if t.starts_with('{') {
                !p.is_empty()
            } else {
                literals += 1;
                t == p
            }
        });
        if fits && best.is_none_or(|(_, n)| literals > n) {
            best = Some((template.as_str(), literals));
        }
    }
    best.map(|(t, _)| t)
}

type Validators = Mutex<HashMap<(String, String, String), Option<Arc<jsonschema::Validator>>>>;

/// The validator of one response's JSON body (`None` when it documents no JSON body).
fn validator(template: &str, method: &str, status: &str) -> Option<Arc<jsonschema::Validator>> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (template.to_string(), method.to_string(), status.to_string());
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    let doc = document();
    let response = &doc["paths"][template][method]["responses"][status];
    let schema = &response["content"]["application/json"]["schema"];
    let built = (!schema.is_null()).then(|| {
        // The response's schema at the root, with the document's components beside it so
        // that its `#/components/schemas/…` references resolve.
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"].clone(),
        });
        for (k, v) in schema.as_object().unwrap() {
            root[k] = v.clone();
        }
        Arc::new(
            jsonschema::validator_for(&root)
                .unwrap_or_else(|e| panic!("schema of {method} {template} {status}: {e}")),
        )
    });
    cache.lock().unwrap().insert(key, built.clone());
    built
}

/// Panics unless the response conforms to the document.
pub fn check(method: &reqwest::Method, path: &str, status: u16, content_type: &str, body: &[u8]) {
    let template = template_of(path)
        .unwrap_or_else(|| panic!("{method} {path} is not in the OpenAPI document"));
    let m = method.as_str().to_ascii_lowercase();
    let responses = &document()["paths"][template][&m]["responses"];
    assert!(
        !responses.is_null(),
        "{method} {template} is not in the OpenAPI document"
    );
    let s = status.to_string();
    assert!(
        !responses[&s].is_null(),
        "{method} {path} answered {status}, which the OpenAPI document does not list: {}",
        String::from_utf8_lossy(body)
    );
    if !content_type.starts_with("application/json") {
        assert!(
            responses[&s]["content"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| content_type.starts_with(k.as_str()))),
            "{method} {path} answered {status} as {content_type}, not documented"
        );
        return;
    }
    let instance: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{method} {path}: a JSON content type but no JSON ({e})"));
    let Some(v) = validator(template, &m, &s) else {
        panic!("{method} {path} answered {status} with JSON, but no JSON body is documented");
    };
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not conform to the OpenAPI document:\n{}\n{instance}",
        errors.join("\n")
    );
}
