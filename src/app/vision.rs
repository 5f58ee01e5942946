//! The shared vision's two routes: its text as this device has it (with the version it is
//! at), and the editor's splices, made against the version the page saw.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::actions;
use super::error::PageError;
use super::state::App;
use crate::core::Splice;
use crate::store::{LockMode, OpenAlliance};

/// The vision as this device has it, with the version (heads) it is at.
#[derive(Serialize)]
struct VisionText {
    ok: bool,
    heads: Vec<String>,
    text: String,
    /// The answer to a splice: the device holds changes this version does not (others' edits
    /// made meanwhile); the page fetches the whole vision once it has nothing left to send.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    behind: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

fn vision_of(open: &OpenAlliance) -> VisionText {
    VisionText {
        ok: true,
        heads: open
            .replica()
            .heads()
            .iter()
            .map(ToString::to_string)
            .collect(),
        text: open.replica().view().vision,
        behind: false,
        message: String::new(),
    }
}

/// The answer to a page's splice: the vision as of the change it made (the page's own
/// version: its text is what the page sent), so the page goes on typing from there. When
/// others' edits came in meanwhile the change was made beside them (concurrent, so a
/// rewording of the same words is a text conflict), and the page keeps typing on its own
/// version until it has sent everything; then it fetches the merged vision.
fn vision_after(open: &OpenAlliance, change: Option<automerge::ChangeHash>) -> VisionText {
    let Some(hash) = change else {
        return vision_of(open);
    };
    let replica = open.replica();
    let text =
        crate::core::text::root_text_at(replica.doc(), crate::core::model::keys::VISION, &[hash]);
    VisionText {
        ok: true,
        heads: vec![hash.to_string()],
        text,
        behind: replica.heads() != [hash],
        message: String::new(),
    }
}

pub(super) async fn text(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
) -> Result<Response, PageError> {
    let (_, v) = app.read(&aid, |open, _| vision_of(open)).await?;
    Ok(axum::Json(v).into_response())
}

#[derive(Deserialize)]
struct SpliceRequest {
    /// The version the page's splices were made against.
    base: Vec<String>,
    splices: Vec<Splice>,
}

pub(super) async fn splice(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let req: SpliceRequest = serde_json::from_slice(&body).map_err(|_| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "The edit could not be read; please reload the page.",
            )
        })?;
        let base = req
            .base
            .iter()
            .map(|h| h.parse::<automerge::ChangeHash>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "The edit names an unknown version; please reload the page.",
                )
            })?;
        for s in &req.splices {
            actions::clean("vision", &s.insert)?;
            if s.insert.contains('\r') {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    "the vision contains a control character; please type plain text",
                ));
            }
        }
        let splices = req.splices;
        app.with_open(&aid, LockMode::Exclusive, move |open, identity, entropy| {
            let edited = crate::device::steps::edit_on(
                open,
                identity,
                entropy,
                crate::system::now(),
                |r, w, x| Ok(r.splice_vision_at(w, x, &base, &splices)?),
            )?;
            Ok(vision_after(open, edited.change.as_ref().map(|c| c.hash())))
        })
        .await
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => (
            e.status,
            axum::Json(VisionText {
                ok: false,
                heads: Vec::new(),
                text: String::new(),
                behind: false,
                message: e.message,
            }),
        )
            .into_response(),
    }
}
