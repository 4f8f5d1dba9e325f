//! The error type of server functions, shared by server and browser. Messages are written for
//! the person using the app; internals are logged on the server and never sent.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    /// Not signed in (or the session ended).
    Unauthorized,
    /// Signed in, but the role does not allow it.
    Forbidden(String),
    NotFound,
    /// Input was invalid; one message per field.
    Validation(Vec<FieldMessage>),
    Conflict(String),
    TooManyAttempts(String),
    /// Wrong email or password (the same message for both).
    InvalidCredentials,
    Unavailable,
    Internal,
    /// Transport or encoding failure between browser and server.
    Transport(String),
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldMessage {
            field: field.to_string(),
            message: message.into(),
        }])
    }
    /// The message for one field, if this is a validation error naming it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Validation(list) => list
                .iter()
                .find(|f| f.field == field)
                .map(|f| f.message.clone()),
            _ => None,
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::Validation(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::TooManyAttempts(_) => 429,
            AppError::Unavailable => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Unauthorized => f.write_str("Please sign in to continue."),
            AppError::Forbidden(m) => f.write_str(m),
            AppError::NotFound => f.write_str("Not found."),
            AppError::Validation(list) => {
                let parts: Vec<String> = list
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                write!(f, "Please correct: {}", parts.join("; "))
            }
            AppError::Conflict(m) => f.write_str(m),
            AppError::TooManyAttempts(m) => f.write_str(m),
            AppError::InvalidCredentials => f.write_str("Invalid email or password."),
            AppError::Unavailable => {
                f.write_str("The service is temporarily unavailable. Please try again.")
            }
            AppError::Internal => {
                f.write_str("Something went wrong on our side. Please try again.")
            }
            AppError::Transport(m) => write!(f, "Could not reach the server: {m}"),
        }
    }
}

impl std::error::Error for AppError {}

#[cfg(feature = "server-fn")]
impl server_fn::error::FromServerFnError for AppError {
    type Encoder = server_fn::codec::JsonEncoding;
    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

/// A field-level validation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(
            errors
                .into_iter()
                .map(|e| FieldMessage {
                    field: e.field.to_string(),
                    message: e.message,
                })
                .collect(),
        )
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        vec![e].into()
    }
}
