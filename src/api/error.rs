//! The API's error type and its one mapping to HTTP: an OGC exception body (`code`, `description`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use thiserror::Error;

/// An error answered to a client, with its status and OGC exception code.
#[derive(Debug, Clone, Error)]
#[error("{code}: {description}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
}

impl ApiError {
    /// A query parameter with a bad value: 400, naming the parameter.
    pub fn bad_parameter(param: &str, reason: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameterValue",
            description: format!("parameter `{param}`: {reason}"),
        }
    }

    /// A query parameter the endpoint does not define: 400.
    pub fn unknown_parameter(param: &str, allowed: &[&str]) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameterValue",
            description: format!(
                "unknown query parameter `{param}`; this endpoint accepts: {}",
                allowed.join(", ")
            ),
        }
    }

    /// 404 for a missing collection, feature or path.
    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            description: description.into(),
        }
    }

    /// 405 for a method the resource does not support.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            description: format!("{method} is not supported on {path}; use GET"),
        }
    }

    /// An error some middleware answered in its own format, re-expressed as an OGC exception.
    pub fn from_status(status: StatusCode, description: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            400 => "InvalidParameterValue",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            406 => "NotAcceptable",
            500..=599 => "ServerError",
            _ => "BadRequest",
        };
        ApiError {
            status,
            code,
            description: description.into(),
        }
    }

    /// 500, without internals: details go to the log, not to the client.
    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServerError",
            description: "internal server error; the event was logged".into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            builder.insert_header((actix_web::http::header::ALLOW, "GET, HEAD"));
        }
        builder
            .content_type("application/json")
            .body(json!({ "code": self.code, "description": self.description }).to_string())
    }
}
