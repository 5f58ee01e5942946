//! Server-sent events: one `change` event each time the alliance changed (an edit from this
//! page, another `alliance` command, another device), fed by [`SharedAlliance::subscribe`].
//! The page then re-fetches its parts; nothing polls. The first event, `hello`, carries the
//! alliance's heads as they were when the stream started listening, so a page rendered at
//! other heads (a change landed between its load and its stream, or while its device was away)
//! re-fetches what changed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::security::{Guard, SessionKey};
use crate::store::LockMode;
use crate::store::shared::SharedAlliance;

/// A comment line every so often, so that a dead connection is noticed and closed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The event stream of one alliance.
/// Its session counts as used while the stream is open.
pub fn stream(shared: Arc<SharedAlliance>, guard: Arc<Guard>, session: SessionKey) -> Response {
    // Listening first, then reading the heads: a change after the read is an event.
    let rx = shared.subscribe();
    // First a `retry` hint and a `hello` with the heads, so the page knows the stream is up
    // and whether it missed something.
    let first = futures_util::stream::once(async move {
        let heads = shared
            .run(LockMode::Shared, |open| {
                Ok(open
                    .replica()
                    .heads()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>())
            })
            .await;
        let mut heads = match heads {
            Ok(h) => h,
            // Unknown: the page re-fetches everything.
            _ => vec!["?".to_string()],
        };
        heads.sort();
        Ok::<_, std::convert::Infallible>(format!(
            "retry: 1000\nevent: hello\ndata: {}\n\n",
            heads.join(",")
        ))
    });
    let changes = futures_util::stream::unfold(rx, move |mut rx| {
        let (guard, session) = (guard.clone(), session.clone());
        async move {
            let chunk = match tokio::time::timeout(KEEPALIVE, rx.changed()).await {
                Ok(Ok(())) => {
                    let n = *rx.borrow_and_update();
                    format!("event: change\ndata: {n}\n\n")
                }
                // The alliance was dropped (the device is stopping): end the stream.
                Ok(Err(_)) => return None,
                Err(_) => {
                    // An open page keeps its session; an ended session ends its stream.
                    if !guard.touch(&session) {
                        return None;
                    }
                    ": keepalive\n\n".to_string()
                }
            };
            Some((Ok::<_, std::convert::Infallible>(chunk), rx))
        }
    });
    let body = futures_util::stream::StreamExt::boxed(futures_util::stream::StreamExt::chain(
        first, changes,
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
