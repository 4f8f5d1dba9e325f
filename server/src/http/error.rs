//! The REST API's error: a status and `{"error": {"code", "message", "fields"?}}`.
//! Unexpected failures are logged with their cause and answered as a plain 500.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use shared::error::{AppError, FieldMessage};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldMessage>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: vec![],
        }
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if !self.fields.is_empty() {
            body["error"]["fields"] = json!(self
                .fields
                .iter()
                .map(|f| json!({"field": f.field, "message": f.message}))
                .collect::<Vec<_>>());
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = match &e {
            AppError::Unauthorized | AppError::InvalidCredentials => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => return ApiError::not_found(),
            AppError::Validation(_) => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyAttempts(_) => "rate_limited",
            AppError::Unavailable => "unavailable",
            AppError::Internal | AppError::Transport(_) => "internal",
        };
        let fields = match &e {
            AppError::Validation(f) => f.clone(),
            _ => vec![],
        };
        let message = match &e {
            AppError::Validation(_) => {
                e.to_string()
                    .replacen("Please correct: ", "invalid input: ", 1)
            }
            _ => e.to_string(),
        };
        ApiError {
            status,
            code,
            message,
            fields,
        }
    }
}

impl From<backend::storage::StorageError> for ApiError {
    fn from(e: backend::storage::StorageError) -> Self {
        AppError::from(e).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", r.body_text())
    }
}
