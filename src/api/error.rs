//! The API's error type and its one mapping to HTTP: an OGC exception body (`code`, `description`).
//! The status for each error of the lower modules is chosen here and only here (the `From` impls),
//! and an internal error is logged with its cause before the bare 500 goes out.

use actix_web::error::BlockingError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use thiserror::Error;

use crate::auth::AuthError;
use crate::service::queries::QueryError;
use crate::store::StoreError;

/// An error answered to a client, with its status and OGC exception code.
#[derive(Debug, Clone, Error)]
#[error("{code}: {description}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// The methods the resource supports, sent with a 405.
    pub allow: &'static str,
    /// Seconds a client should wait before trying again, sent as `Retry-After` with a 429 or 503.
    pub retry_after_s: u64,
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
            retry_after_s: 5,
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
            retry_after_s: 5,
        }
    }

    /// 404 for a missing collection, feature or path.
    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            description: description.into(),
            allow: "GET, HEAD",
            retry_after_s: 5,
        }
    }

    /// 405 for a method the resource does not support.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            description: format!("{method} is not supported on {path}; use GET"),
            allow: "GET, HEAD",
            retry_after_s: 5,
        }
    }

    fn with(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            allow: "GET, HEAD",
            retry_after_s: 5,
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

    /// 429: too many requests of a kind from this client; try again after `retry_after_s`.
    pub fn too_many(description: impl Into<String>, retry_after_s: u64) -> Self {
        ApiError {
            retry_after_s: retry_after_s.max(1),
            ..ApiError::with(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                description,
            )
        }
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
            429 => "TooManyRequests",
            500..=599 => "ServerError",
            _ => "BadRequest",
        };
        ApiError {
            status,
            code,
            description: description.into(),
            allow: "GET, HEAD",
            retry_after_s: 5,
        }
    }

    /// 500, without internals: details go to the log, not to the client.
    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServerError",
            description: "internal server error; the event was logged".into(),
            allow: "GET, HEAD",
            retry_after_s: 5,
        }
    }

    /// [`ApiError::internal`], after logging `cause`: the client learns nothing of it, the log all.
    pub fn internal_from(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::internal()
    }
}

/// The one mapping of store errors to HTTP (the same as `edit::store_error`).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => ApiError::precondition_failed(format!(
                "If-Match: {e}; fetch the site again and re-apply your change"
            )),
            StoreError::NotFound { .. } | StoreError::NoSuchVersion { .. } => {
                ApiError::not_found(e.to_string())
            }
            StoreError::Exists { .. } | StoreError::Deleted { .. } => {
                ApiError::conflict(e.to_string())
            }
            StoreError::Busy { .. } => {
                ApiError::busy("the store is busy (another process is writing); try again")
            }
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::with(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StoreUnavailable",
                    "the inventory's database cannot be reached; nothing was changed. Reads are \
                     served from the last published state; try the change again shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "store write failed");
                ApiError::internal()
            }
        }
    }
}

/// A refused token is a 401; a store or hashing failure behind it is internal.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::Hash(_) => ApiError::internal_from(e),
            e => ApiError::unauthorized(e.to_string()),
        }
    }
}

/// A `filter` that does not parse or does not fit the collection's queryables: the client's
/// parameter (`filter-crs` for a CRS the literals cannot be taken from).
impl From<crate::filter::FilterError> for ApiError {
    fn from(e: crate::filter::FilterError) -> Self {
        match e {
            crate::filter::FilterError::Crs(reason) => {
                ApiError::bad_parameter("filter-crs", reason)
            }
            e => ApiError::bad_parameter("filter", e),
        }
    }
}

/// A `sortby` the collection cannot sort by: the client's parameter.
impl From<crate::catalog::order::SortError> for ApiError {
    fn from(e: crate::catalog::order::SortError) -> Self {
        ApiError::bad_parameter("sortby", e)
    }
}

/// A CRS the service does not serve, or coordinates outside its domain, are the client's
/// parameter; a transform PROJ cannot set up is internal.
impl From<super::crs::CrsError> for ApiError {
    fn from(e: super::crs::CrsError) -> Self {
        use super::crs::CrsError;
        match e {
            CrsError::Unsupported { param, .. } | CrsError::Outside { param, .. } => {
                ApiError::bad_parameter(param, e)
            }
            CrsError::Setup { .. } => ApiError::internal_from(e),
        }
    }
}

/// `properties` naming what the collection lacks, or a feature the requested `crs` cannot
/// express: the client's parameters.
impl From<crate::catalog::write::WriteError> for ApiError {
    fn from(e: crate::catalog::write::WriteError) -> Self {
        use crate::catalog::write::WriteError;
        match e {
            WriteError::UnknownProperty { .. } | WriteError::Repeated(_) => {
                ApiError::bad_parameter("properties", e)
            }
            WriteError::Reproject { .. } => ApiError::bad_parameter("crs", e),
        }
    }
}

/// The blocking pool is gone or the task panicked: internal.
impl From<crate::service::edits::EditError> for ApiError {
    fn from(e: crate::service::edits::EditError) -> Self {
        use crate::service::edits::EditError;
        match e {
            EditError::Invalid(m) => ApiError::bad_body(m),
            EditError::NotFound(m) => ApiError::not_found(m),
            EditError::Denied(d) => ApiError::forbidden(d.to_string()),
            EditError::PreconditionRequired(m) => ApiError::precondition_required(m),
            EditError::PreconditionFailed(m) => ApiError::precondition_failed(m),
            EditError::Store(e) => e.into(),
        }
    }
}

impl From<BlockingError> for ApiError {
    fn from(e: BlockingError) -> Self {
        ApiError::internal_from(format_args!("blocking task failed: {e}"))
    }
}

/// Our own JSON failing to (de)serialise is a bug, not the client's: internal.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal_from(format_args!("JSON: {e}"))
    }
}

/// A query's bad input is the client's parameter; a missing sites collection is a 404.
impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadParameter { param, reason } => ApiError::bad_parameter(param, reason),
            QueryError::NoSites => ApiError::not_found(e.to_string()),
        }
    }
}

/// A bad map option is the client's parameter; anything else in rendering is internal.
impl From<crate::render::RenderError> for ApiError {
    fn from(e: crate::render::RenderError) -> Self {
        match e {
            crate::render::RenderError::BadParameter { param, reason } => {
                ApiError::bad_parameter(param, reason)
            }
            other => ApiError::internal_from(format_args!("map rendering: {other}")),
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            builder.insert_header((
                actix_web::http::header::RETRY_AFTER,
                self.retry_after_s.to_string(),
            ));
        }
        let mut response = builder.content_type("application/json").body(self.body());
        // An error that leaves the middleware as an error is answered from here: it gets the same
        // security headers as every other response.
        super::ops::security_headers(self.status, response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn store_errors() -> Vec<StoreError> {
        let id = || "kgz_sumsar".to_owned();
        vec![
            StoreError::Backend {
                path: "/srv/atlas.gpkg".into(),
                message: "disk I/O error".into(),
            },
            StoreError::DuplicateId {
                path: "/srv/atlas.gpkg".into(),
                id: id(),
            },
            StoreError::Conflict {
                id: id(),
                expected: 3,
                actual: 4,
            },
            StoreError::NotFound { id: id() },
            StoreError::Exists { id: id() },
            StoreError::Deleted { id: id() },
            StoreError::NoSuchVersion {
                id: id(),
                version: 9,
            },
            StoreError::Busy {
                path: "/srv/atlas.gpkg".into(),
            },
            StoreError::Unavailable {
                path: "postgresql://atlas@db/atlas".into(),
                reason: "connection refused".into(),
            },
        ]
    }

    #[test]
    fn store_errors_map_to_their_statuses() {
        let ours: Vec<ApiError> = store_errors().into_iter().map(ApiError::from).collect();
        // No server path reaches a client.
        for e in &ours {
            assert!(!e.description.contains("/srv"), "{}", e.description);
        }
        let statuses: Vec<u16> = ours.iter().map(|e| e.status.as_u16()).collect();
        assert_eq!(statuses, [500, 500, 412, 404, 409, 409, 404, 503, 503]);
        assert!(!ours[8].description.contains("refused"));
        // Internal causes stay in the log.
        assert!(!ours[0].description.contains("disk"));
    }

    #[test]
    fn auth_and_query_errors_map_to_their_statuses() {
        let s = |e: ApiError| e.status.as_u16();
        assert_eq!(s(AuthError::Missing.into()), 401);
        assert_eq!(s(AuthError::Revoked.into()), 401);
        assert_eq!(s(AuthError::Hash("argon2".into()).into()), 500);
        assert_eq!(
            s(AuthError::Store(StoreError::Busy { path: "x".into() }).into()),
            503
        );
        let e: ApiError = QueryError::BadParameter {
            param: "k",
            reason: "0 is out of range [1, 1000]".into(),
        }
        .into();
        assert_eq!(
            (e.status.as_u16(), e.description.as_str()),
            (400, "parameter `k`: 0 is out of range [1, 1000]")
        );
        assert_eq!(s(QueryError::NoSites.into()), 404);
    }

    #[actix_web::test]
    async fn a_failed_blocking_task_is_internal() {
        let failed = actix_web::web::block(|| {
            if std::hint::black_box(true) {
                panic!("blocking task panics on purpose");
            }
        })
        .await
        .unwrap_err();
        assert_eq!(ApiError::from(failed).status.as_u16(), 500);
    }

    /// Collects what a tracing subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_internal_error_logs_its_cause_and_tells_the_client_nothing() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let errors = tracing::subscriber::with_default(subscriber, || {
            let json = serde_json::from_str::<serde_json::Value>("{oops").unwrap_err();
            vec![
                ApiError::from(json),
                ApiError::internal_from("the cause, spelled out"),
                ApiError::from(StoreError::Backend {
                    path: "/srv/atlas.gpkg".into(),
                    message: "database disk image is malformed".into(),
                }),
            ]
        });
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        for cause in [
            "JSON: key must be a string",
            "the cause, spelled out",
            "database disk image is malformed",
        ] {
            assert!(text.contains(cause), "{cause} not in {text}");
        }
        for e in errors {
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(e.description, "internal server error; the event was logged");
        }
    }
}
