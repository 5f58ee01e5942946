//! The page's GET handlers: first run, the views of an alliance, its live parts, an item's
//! history, the printable page, the event stream, the assets. Each reads what it shows first
//! ([`super::read`], under the store lock), then renders it ([`super::views`]).

use std::sync::Arc;

use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::error::PageError;
use super::read;
use super::security::{Csrf, SessionKey};
use super::state::App;
use super::views::{self, Page, Part};
use crate::core::ItemId;
use crate::store::LockMode;

const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

fn csrf_of(c: &Option<Extension<Csrf>>) -> String {
    c.as_ref().map(|c| c.0.0.clone()).unwrap_or_default()
}

pub(super) async fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "There is no such page here.")
}

// ---- first run ----

pub(super) async fn home(State(app): State<Arc<App>>, csrf: Option<Extension<Csrf>>) -> Response {
    let csrf = csrf_of(&csrf);
    let home = &app.device.home;
    if home.identity().is_err() {
        return Html(views::setup(&csrf).into_string()).into_response();
    }
    let list = alliances(&app);
    match list.as_slice() {
        [(id, _)] => Redirect::to(&format!("/a/{id}/")).into_response(),
        _ => Html(views::start(&csrf, &list, true).into_string()).into_response(),
    }
}

/// The alliances on this device: ID and title.
fn alliances(app: &App) -> Vec<(String, String)> {
    app.device
        .alliances()
        .iter()
        .map(|s| {
            let title = s
                .with(LockMode::Shared, |o| Ok(o.replica().view().title))
                .unwrap_or_else(|_| s.id.short());
            (s.id.to_string(), title)
        })
        .collect()
}

pub(super) async fn start_page(
    State(app): State<Arc<App>>,
    csrf: Option<Extension<Csrf>>,
) -> Response {
    let named = app.device.home.identity().is_ok();
    let list = alliances(&app);
    Html(views::start(&csrf_of(&csrf), &list, named).into_string()).into_response()
}

// ---- views ----

pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

pub(super) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

pub(super) async fn to_overview(UrlPath(aid): UrlPath<String>) -> Response {
    Redirect::to(&format!("/a/{}/", aid.trim())).into_response()
}

/// One view of an alliance: its parts read, then the whole page rendered.
async fn page(app: &Arc<App>, aid: &str, p: Page, csrf: String) -> Result<Html<String>, PageError> {
    let (ctx, parts) = app
        .read(aid, move |open, ctx| read::parts(open, ctx, p))
        .await?;
    Ok(Html(views::page(p, &ctx, &parts, &csrf).into_string()))
}

pub(super) async fn overview(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
    csrf: Option<Extension<Csrf>>,
) -> Result<Html<String>, PageError> {
    page(&app, &aid, Page::Overview, csrf_of(&csrf)).await
}

pub(super) async fn view(
    State(app): State<Arc<App>>,
    UrlPath((aid, page_slug)): UrlPath<(String, String)>,
    csrf: Option<Extension<Csrf>>,
) -> Result<Html<String>, PageError> {
    let Some(p) = Page::from_slug(&page_slug).filter(|p| *p != Page::Overview) else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "There is no such page here.",
        ));
    };
    page(&app, &aid, p, csrf_of(&csrf)).await
}

pub(super) async fn print(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
) -> Result<Html<String>, PageError> {
    let (ctx, ()) = app.read(&aid, |_, _| ()).await?;
    Ok(Html(views::print(&ctx).into_string()))
}

/// "Add to calendar": the same file as `alliance export --format ics`, as a download.
pub(super) async fn calendar(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
) -> Result<Response, PageError> {
    let (ctx, ()) = app.read(&aid, |_, _| ()).await?;
    let cal = crate::device::calendar::ics(&ctx.view, ctx.now);
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"alliance.ics\"",
            ),
        ],
        cal.ics,
    )
        .into_response())
}

pub(super) async fn history(
    State(app): State<Arc<App>>,
    UrlPath((aid, item)): UrlPath<(String, String)>,
    csrf: Option<Extension<Csrf>>,
) -> Result<Html<String>, PageError> {
    let id: ItemId = item
        .trim()
        .parse()
        .map_err(|e: crate::core::ids::InvalidItemId| {
            PageError::new(StatusCode::BAD_REQUEST, e.to_string())
        })?;
    let csrf = csrf_of(&csrf);
    let (ctx, history) = app
        .read(&aid, move |open, ctx| read::history(open, ctx, id))
        .await?;
    Ok(Html(views::history(&ctx, &history, &csrf).into_string()))
}

pub(super) async fn part(
    State(app): State<Arc<App>>,
    UrlPath((aid, name)): UrlPath<(String, String)>,
) -> Result<Html<String>, PageError> {
    let part = Part::from_name(&name);
    let (ctx, data) = app
        .read(&aid, move |open, ctx| {
            part.map(|p| read::part(open, ctx, p))
        })
        .await?;
    let data =
        data.ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "There is no such part."))?;
    Ok(Html(views::part(&ctx, &data).into_string()))
}

pub(super) async fn events(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
    Extension(session): Extension<SessionKey>,
) -> Result<Response, PageError> {
    Ok(super::events::stream(
        app.shared(&aid)?,
        app.guard.clone(),
        session,
    ))
}

/// The CSRF token of the session the request's cookie names: a page whose device restarted, or
/// that was signed in again from another tab, asks for it before it sends what it kept.
pub(super) async fn session(csrf: Option<Extension<Csrf>>) -> Response {
    axum::Json(serde_json::json!({ "csrf": csrf_of(&csrf) })).into_response()
}
