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
    /// The methods the resource supports, sent with a 405.
    pub allow: &'static str,
}

impl Default for ApiError {
    fn default() -> Self {
        ApiError::internal()
    }
}

impl ApiError {
    /// A query parameter with a bad value: 400, naming the parameter.
    pub fn bad_parameter(param: &str, reason: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameterValue",
            description: format!("parameter `{param}`: {reason}"),
            allow: "GET, HEAD",
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
            allow: "GET, HEAD",
        }
    }

    /// 404 for a missing collection, feature or path.
    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            description: description.into(),
            allow: "GET, HEAD",
        }
    }

    /// 405 for a method the resource does not support.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            description: format!("{method} is not supported on {path}; use GET"),
            allow: "GET, HEAD",
        }
    }

    fn with(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            allow: "GET, HEAD",
        }
    }

    /// A request body with a bad or missing value: 400, naming the field.
    pub fn bad_body(description: impl Into<String>) -> Self {
        ApiError::with(StatusCode::BAD_REQUEST, "InvalidValue", description)
    }

    /// No or an unusable bearer token: 401.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        ApiError::with(StatusCode::UNAUTHORIZED, "Unauthorized", description)
    }

    /// A valid token without the right: 403.
    pub fn forbidden(description: impl Into<String>) -> Self {
        ApiError::with(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    /// 409: the resource exists already.
    pub fn conflict(description: impl Into<String>) -> Self {
        ApiError::with(StatusCode::CONFLICT, "Conflict", description)
    }

    /// 412: `If-Match` names a version that is no longer current.
    pub fn precondition_failed(description: impl Into<String>) -> Self {
        ApiError::with(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            description,
        )
    }

    /// 428: a change without `If-Match`.
    pub fn precondition_required(description: impl Into<String>) -> Self {
        ApiError::with(
            StatusCode::PRECONDITION_REQUIRED,
            "PreconditionRequired",
            description,
        )
    }

    /// 413: the body is over the limit.
    pub fn too_large(description: impl Into<String>) -> Self {
        ApiError::with(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            description,
        )
    }

    /// 415: a body of a type this endpoint does not take.
    pub fn unsupported_media_type(description: impl Into<String>) -> Self {
        ApiError::with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            description,
        )
    }

    /// 503: the store is busy with another writer.
    pub fn busy(description: impl Into<String>) -> Self {
        ApiError::with(StatusCode::SERVICE_UNAVAILABLE, "Busy", description)
    }

    /// 405 on a resource that supports `allow`.
    pub fn method_not_allowed_on(method: &str, path: &str, allow: &'static str) -> Self {
        ApiError {
            allow,
            ..ApiError::with(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{method} is not supported on {path}; use {allow}"),
            )
        }
    }

    /// An error some middleware answered in its own format, re-expressed as an OGC exception.
    pub fn from_status(status: StatusCode, description: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            400 => "InvalidParameterValue",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            401 => "Unauthorized",
            403 => "Forbidden",
            406 => "NotAcceptable",
            413 => "PayloadTooLarge",
            415 => "UnsupportedMediaType",
            500..=599 => "ServerError",
            _ => "BadRequest",
        };
        ApiError {
            status,
            code,
            description: description.into(),
            allow: "GET, HEAD",
        }
    }

    /// 500, without internals: details go to the log, not to the client.
    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServerError",
            description: "internal server error; the event was logged".into(),
            allow: "GET, HEAD",
        }
    }
}

impl ApiError {
    /// The OGC exception body.
    pub fn body(&self) -> String {
        json!({ "code": self.code, "description": self.description }).to_string()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            builder.insert_header((actix_web::http::header::ALLOW, self.allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                "Bearer realm=\"tailings-atlas\"",
            ));
        }
        builder.content_type("application/json").body(self.body())
    }
}
