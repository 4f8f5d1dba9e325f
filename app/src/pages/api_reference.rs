//! Settings › API keys › Reference: the REST API's OpenAPI document (`/api/v1/openapi.json`),
//! rendered for people: operations by tag with their parameters, body and answers, then the
//! shapes they use.

use crate::api::api_reference;
use crate::components::{loading, LoadError};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The OpenAPI document the server generated, given to the pages' context at start-up.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct ApiDocument(pub std::sync::Arc<serde_json::Value>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiReference {
    pub title: String,
    pub description: String,
    pub tags: Vec<ApiTag>,
    pub schemas: Vec<ApiSchema>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTag {
    pub name: String,
    pub description: String,
    pub operations: Vec<ApiOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiOperation {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub needs_key: bool,
    pub params: Vec<ApiField>,
    /// The request body's shape, if it takes one.
    pub body: Option<String>,
    /// (status, what it means, the body's shape).
    pub responses: Vec<(String, String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiSchema {
    pub name: String,
    pub description: String,
    /// The shape in one line when it has no fields (an enum, a choice of shapes).
    pub summary: Option<String>,
    pub fields: Vec<ApiField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiField {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[cfg(feature = "ssr")]
pub use build::reference;

#[cfg(feature = "ssr")]
mod build {
    use super::*;
    use serde_json::Value;

    fn text(v: &Value) -> String {
        v.as_str().unwrap_or_default().to_string()
    }

    /// A schema in a few words: `Partner`, `array of Partner`, `string or null`, `one of: a, b`.
    pub fn kind(s: &Value) -> String {
        if let Some(r) = s["$ref"].as_str() {
            return r.rsplit('/').next().unwrap_or(r).to_string();
        }
        if let Some(values) = s["enum"].as_array() {
            let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            return format!("one of {}", names.join(", "));
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(parts) = s[key].as_array() {
                let joiner = if key == "allOf" { " and " } else { " or " };
                let parts: Vec<String> = parts.iter().map(kind).collect();
                return parts.join(joiner);
            }
        }
        let types: Vec<String> = match &s["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts.iter().map(text).collect(),
            _ => return "any JSON".into(),
        };
        types
            .into_iter()
            .map(|t| match t.as_str() {
                "array" => format!("array of {}", kind(&s["items"])),
                "object" if s["additionalProperties"].is_object() => {
                    format!("map of {}", kind(&s["additionalProperties"]))
                }
                _ => t,
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }

    fn fields(s: &Value) -> Vec<ApiField> {
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out: Vec<ApiField> = s["properties"]
            .as_object()
            .map(|props| {
                props
                    .iter()
                    .map(|(name, p)| ApiField {
                        name: name.clone(),
                        kind: kind(p),
                        required: required.contains(&name.as_str()),
                        description: text(&p["description"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // A flattened part (`allOf`) brings its fields along.
        if let Some(parts) = s["allOf"].as_array() {
            for p in parts {
                out.extend(fields(p));
            }
        }
        out
    }

    pub fn reference(doc: &Value) -> ApiReference {
        let prefix = doc["servers"][0]["url"].as_str().unwrap_or("");
        let mut tags: Vec<ApiTag> = doc["tags"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| ApiTag {
                        name: text(&t["name"]),
                        description: text(&t["description"]),
                        operations: vec![],
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "post", "put", "delete", "patch"] {
                let op = &item[method];
                if op.is_null() {
                    continue;
                }
                let params = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| ApiField {
                                name: format!("{} ({})", text(&p["name"]), text(&p["in"])),
                                kind: kind(&p["schema"]),
                                required: p["required"].as_bool().unwrap_or(false),
                                description: text(&p["description"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = op["requestBody"]["content"]["application/json"]["schema"]
                    .as_object()
                    .map(|_| kind(&op["requestBody"]["content"]["application/json"]["schema"]));
                let responses = op["responses"]
                    .as_object()
                    .map(|rs| {
                        rs.iter()
                            .map(|(status, r)| {
                                let content = r["content"].as_object();
                                let shape = content.and_then(|c| c.iter().next()).map(|(ty, c)| {
                                    if ty.starts_with("application/json") {
                                        kind(&c["schema"])
                                    } else {
                                        ty.clone()
                                    }
                                });
                                (status.clone(), text(&r["description"]), shape)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let operation = ApiOperation {
                    method: method.to_uppercase(),
                    path: format!("{prefix}{path}"),
                    summary: text(&op["summary"]),
                    description: text(&op["description"]),
                    needs_key: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    params,
                    body,
                    responses,
                };
                let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
                match tags.iter_mut().find(|t| t.name == tag) {
                    Some(t) => t.operations.push(operation),
                    None => tags.push(ApiTag {
                        name: tag,
                        description: String::new(),
                        operations: vec![operation],
                    }),
                }
            }
        }
        tags.retain(|t| !t.operations.is_empty());
        let schemas = doc["components"]["schemas"]
            .as_object()
            .map(|all| {
                all.iter()
                    .map(|(name, s)| {
                        let fields = fields(s);
                        ApiSchema {
                            name: name.clone(),
                            description: text(&s["description"]),
                            summary: fields.is_empty().then(|| kind(s)),
                            fields,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ApiReference {
            title: text(&doc["info"]["title"]),
            description: text(&doc["info"]["description"]),
            tags,
            schemas,
        }
    }
}

/// An anchor id for a shape's name (`ListResponse_Partner` stays as it is).
fn schema_anchor(name: &str) -> String {
    format!("schema-{name}")
}

/// A shape's name as a link to its description, when it is one of the document's shapes.
fn shape(kind: String, names: &[String]) -> AnyView {
    match names.iter().find(|n| **n == kind) {
        Some(n) => {
            let href = format!("#{}", schema_anchor(n));
            view! { <a href=href><code>{kind}</code></a> }.into_any()
        }
        None => view! { <code>{kind}</code> }.into_any(),
    }
}

fn field_rows(fields: Vec<ApiField>, names: &[String]) -> impl IntoView {
    let names = names.to_vec();
    view! {
        <div class="table-wrap" tabindex="0"><table class="table">
            <thead><tr><th scope="col">"Field"</th><th scope="col">"Type"</th><th scope="col">"Required"</th><th scope="col">"Meaning"</th></tr></thead>
            <tbody>
                {fields.into_iter().map(|f| view! {
                    <tr>
                        <td><code>{f.name}</code></td>
                        <td>{shape(f.kind, &names)}</td>
                        <td>{if f.required { "yes" } else { "no" }}</td>
                        <td>{f.description}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| api_reference());
    view! {
        <p class="breadcrumb"><a href="/settings/api-keys">"API keys"</a> " › Reference"</p>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(r) => {
                        let names: Vec<String> = r.schemas.iter().map(|s| s.name.clone()).collect();
                        let toc = r.tags.clone();
                        view! {
                            <h1>{r.title.clone()}</h1>
                            <p>{r.description.clone()}</p>
                            <p><a class="button secondary" href="/api/v1/openapi.json" id="openapi-json">"OpenAPI document (JSON)"</a></p>
                            <nav class="card" aria-label="Operations">
                                <h2>"Operations"</h2>
                                <ul class="list">
                                    {toc.into_iter().map(|t| {
                                        let href = format!("#tag-{}", t.name);
                                        view! { <li><a href=href>{t.name.clone()}</a>" "<span class="muted">{format!("{} · {} operations", t.description, t.operations.len())}</span></li> }
                                    }).collect_view()}
                                    <li><a href="#schemas">"Shapes"</a></li>
                                </ul>
                            </nav>
                            {r.tags.into_iter().map(|t| {
                                let names = names.clone();
                                view! {
                                    <section class="card" id=format!("tag-{}", t.name) aria-labelledby=format!("tag-{}-title", t.name)>
                                        <h2 id=format!("tag-{}-title", t.name)>{t.name.clone()}</h2>
                                        <p class="muted">{t.description.clone()}</p>
                                        {t.operations.into_iter().map(|op| {
                                            let names = names.clone();
                                            let (params, responses) = (op.params, op.responses);
                                            view! {
                                                <article class="api-operation">
                                                    <h3><code class="method">{op.method.clone()}</code> " " <code>{op.path.clone()}</code></h3>
                                                    <p>{op.summary.clone()}{(!op.needs_key).then_some(" (no API key needed)")}</p>
                                                    {(!op.description.is_empty()).then(|| view! { <p class="muted">{op.description.clone()}</p> })}
                                                    {(!params.is_empty()).then(|| view! { <h4>"Parameters"</h4> {field_rows(params, &names)} })}
                                                    {op.body.map(|b| view! { <p>"Body: " {shape(b, &names)}</p> })}
                                                    <h4>"Answers"</h4>
                                                    <ul class="api-answers">
                                                        {responses.into_iter().map(|(status, why, body)| {
                                                            let names = names.clone();
                                                            view! { <li><strong>{status}</strong> " " {why} {body.map(|b| view! { " · " {shape(b, &names)} })}</li> }
                                                        }).collect_view()}
                                                    </ul>
                                                </article>
                                            }
                                        }).collect_view()}
                                    </section>
                                }
                            }).collect_view()}
                            <section class="card" id="schemas" aria-labelledby="schemas-title">
                                <h2 id="schemas-title">"Shapes"</h2>
                                {r.schemas.into_iter().map(|s| {
                                    let names = names.clone();
                                    view! {
                                        <article class="api-schema" id=schema_anchor(&s.name)>
                                            <h3><code>{s.name.clone()}</code></h3>
                                            {(!s.description.is_empty()).then(|| view! { <p>{s.description.clone()}</p> })}
                                            {s.summary.map(|k| view! { <p>{shape(k, &names)}</p> })}
                                            {(!s.fields.is_empty()).then(|| field_rows(s.fields, &names))}
                                        </article>
                                    }
                                }).collect_view()}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
