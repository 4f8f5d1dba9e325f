//! How the backend's errors become the [`AppError`] that server functions answer with: the
//! cause is logged here, and the person using the app gets a message written for them.

use crate::passwords::PasswordError;
use crate::storage::StorageError;
use shared::error::AppError;

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => AppError::NotFound,
            StorageError::Invalid(cause) => {
                tracing::warn!(error = %cause, "the database refused a value");
                AppError::field(
                    "input",
                    "contains characters or is of a size that cannot be stored",
                )
            }
            StorageError::Conflict(m) => AppError::Conflict(m),
            StorageError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                AppError::Unavailable
            }
            other => {
                tracing::error!(error = ?other, "storage error");
                AppError::Internal
            }
        }
    }
}

impl From<PasswordError> for AppError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => {
                tracing::warn!("password work is at its bound; answering 503");
                AppError::Unavailable
            }
            PasswordError::Internal(e) => {
                tracing::error!(error = ?e, "password work failed");
                AppError::Internal
            }
        }
    }
}
