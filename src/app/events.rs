//! Server-sent events: one `change` event each time the alliance changed (an edit from this
//! page, another `alliance` command, another device), fed by [`SharedAlliance::subscribe`].
//! The page then re-fetches its parts; nothing polls.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::net::shared::SharedAlliance;

/// A comment line every so often, so that a dead connection is noticed and closed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// One chunk of the event stream.
type Chunk = Result<String, std::convert::Infallible>;

/// The event stream of one alliance.
pub fn stream(shared: Arc<SharedAlliance>) -> Response {
    let rx = shared.subscribe();
    // First a `retry` hint and a `hello`, so the page knows the stream is up.
    let first: Chunk = Ok("retry: 1000\nevent: hello\ndata: 0\n\n".to_string());
    let changes = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = match tokio::time::timeout(KEEPALIVE, rx.changed()).await {
            Ok(Ok(())) => {
                let n = *rx.borrow_and_update();
                format!("event: change\ndata: {n}\n\n")
            }
            // The alliance was dropped (the device is stopping): end the stream.
            Ok(Err(_)) => return None,
            Err(_) => ": keepalive\n\n".to_string(),
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    let body = futures_util::stream::StreamExt::boxed(futures_util::stream::StreamExt::chain(
        futures_util::stream::iter([first]),
        changes,
    ));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
