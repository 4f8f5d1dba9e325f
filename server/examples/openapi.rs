//! Prints the REST API's OpenAPI document: `cargo run -p server --example openapi`.
fn main() {
    println!(
        "{}",
        serde_json::to_string_pretty(server::http::api::openapi())
            .expect("a serializable document")
    );
}
