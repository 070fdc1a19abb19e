//! The built-in web console at `/`: one HTML page with plain JavaScript and CSS, embedded in
//! the binary with `include_str!` so it works offline and needs no build step.
//!
//! The page reads the same JSON API as the CLI and Grafana (`/api/v1/...`) and sends
//! acknowledge/resolve with the bearer token the user pastes; the server keeps no session.
//! It sits on the analyzer's router, so TLS and basic auth from the web config cover it.
//! The former link page moved to `/api`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Scripts and styles only from this origin, no inline code, no framing: an alert label
/// that slips into the page can never run as script.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Generic over the state so the console needs none of the API's (and tests need no database).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
}

/// `no-cache` makes the browser revalidate, so an upgraded analyzer never pairs a new page
/// with an old cached script.
async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves the console routes on a real socket and checks each asset's content type.
    #[tokio::test]
    async fn assets_are_served_with_their_content_types() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes::<()>()).await });
        for (path, kind, needle) in [
            (
                "/",
                "text/html; charset=utf-8",
                "<script src=\"/console/console.js\"",
            ),
            (
                "/console/console.js",
                "text/javascript; charset=utf-8",
                "EventSource",
            ),
            (
                "/console/console.css",
                "text/css; charset=utf-8",
                "prefers-color-scheme",
            ),
        ] {
            let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let headers = response.headers().clone();
            assert_eq!(headers[header::CONTENT_TYPE], kind, "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            let body = response.text().await.unwrap();
            assert!(body.contains(needle), "{path} lacks {needle}");
        }
        let page = reqwest::get(format!("http://{addr}/")).await.unwrap();
        assert!(
            page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let missing = reqwest::get(format!("http://{addr}/console/nope.js"))
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
}
