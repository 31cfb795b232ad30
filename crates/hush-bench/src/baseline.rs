//! The limit: a bare endpoint on hush's own HTTP stack.
//!
//! `hush-baseline` serves [`router`] through [`hush_http::serve_router`], the same accept loop,
//! hyper connection builder and axum version as `hush server`, on a default multi-thread tokio
//! runtime like hush's. What it does not do is everything hush does per request (token, policy,
//! storage, decryption, audit), so `R / L` is the share of the machine's HTTP capacity that
//! hush keeps while doing its work.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The path the baseline answers on.
pub const PATH: &str = "/v1/bench/baseline";

/// The fixed ~200-byte body, shaped like a Vault KV read answer so that response sizes are
/// comparable with hush's.
pub const BODY: &str = concat!(
    r#"{"request_id":"00000000-0000-0000-0000-000000000000","lease_id":"","renewable":false,"#,
    r#""lease_duration":0,"data":{"value":"baseline-baseline-baseline-baseline"},"#,
    r#""wrap_info":null,"warnings":null,"auth":null}"#
);

/// The baseline's routes: `GET /v1/bench/baseline` answers [`BODY`] with the same headers hush
/// sends on JSON answers; anything else is a 404.
pub fn router() -> axum::Router {
    axum::Router::new().route(PATH, axum::routing::get(answer))
}

async fn answer() -> Response {
    let mut resp = (StatusCode::OK, BODY).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_about_200_bytes_of_json() {
        assert!((180..=220).contains(&BODY.len()), "{} bytes", BODY.len());
        // A malformed body would make the baseline cheaper than any real answer.
        assert!(BODY.starts_with('{') && BODY.ends_with('}'));
        assert_eq!(BODY.matches('{').count(), BODY.matches('}').count());
    }
}
