//! What the browser and the server share: the data shapes of server-function results and
//! pages ([`model`]) and the error every server function answers with ([`error`]).
//!
//! This crate compiles to wasm and depends on nothing server-side. The backend's row mapping
//! (`sqlx::FromRow`) is derived only with the `sqlx` feature, which the browser build leaves
//! off; `AppError` becomes a server-function error only with `server-fn`, which the Leptos app
//! turns on (so the backend builds without any Leptos crate).

pub mod error;
pub mod model;
