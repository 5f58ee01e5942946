//! The family's page (`alliance app`): a local web page served by this device, from its own
//! replica, live with the others' edits. It is the page's edge only: every edit goes through
//! the same calls as the `alliance` command ([`crate::device::steps`] and the core's `Replica` methods,
//! one signed change each, persisted before the page hears it worked).
//!
//! - [`security`]: the one middleware with all of the page's safety (Host, one-time link,
//!   session cookie, CSRF + Origin, headers).
//! - [`views`]: server-rendered HTML (maud), parts the script re-fetches.
//! - [`actions`]: the forms (first run, the four steps, invites), answered in words.
//! - [`events`]: server-sent events fed by the alliance's change notifications.
//! - [`device`]: the running node the page shares with `alliance serve`.
//! - `assets/`: one script (the vision editor and live refresh) and one style sheet, embedded.
//!
//! See `docs/app.md`.

pub mod actions;
pub mod events;
pub mod security;
pub mod views;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::core::{AllianceId, Edited, Entropy, ItemId, Splice};
use crate::device::Online;
use crate::device::{DeviceError, Result};
use crate::store::shared::SharedAlliance;
use crate::store::{Identity, LockMode, OpenAlliance};
use security::{Csrf, Guard, SessionKey};
use views::{Ctx, Page};

/// The page's file in the home: its port (remembered across runs), the running process and the
/// link API's key. Readable by this user only (0600).
pub const APP_FILE: &str = "app.json";

/// The largest request body the page takes (a vision of the longest allowed text fits).
pub const MAX_BODY: usize = 4 << 20;

const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// What [`APP_FILE`] holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppFile {
    pub port: u16,
    pub pid: u32,
    pub key: String,
}

impl AppFile {
    pub fn read(home: &Path) -> Option<AppFile> {
        let bytes = std::fs::read(home.join(APP_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes the file readable by this user only.
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(home)?;
        let tmp = home.join(format!("{APP_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("serialises"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, home.join(APP_FILE))
    }
}

/// Asks a running page on this device for a fresh one-time link (over loopback, with the key
/// from [`APP_FILE`]). `None` when no page answers, or the answer is not a link to that same
/// port on 127.0.0.1 ([`is_link_to`]).
pub fn request_link(home: &Path) -> Option<String> {
    use std::io::{Read, Write};
    let file = AppFile::read(home)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], file.port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "POST /api/link HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        file.port,
        security::KEY_HEADER,
        file.key
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.take(64 << 10).read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body = text.split("\r\n\r\n").nth(1)?;
    #[derive(Deserialize)]
    struct Link {
        url: String,
    }
    let url = serde_json::from_str::<Link>(body.trim()).ok()?.url;
    is_link_to(&url, file.port).then_some(url)
}

/// Whether `url` is a page link as [`security::Guard::link`] makes them, to the page on
/// `127.0.0.1:port` and nowhere else: whatever answers on a remembered port (another program
/// that took it since) must not get a browser opened on an address of its choosing.
pub fn is_link_to(url: &str, port: u16) -> bool {
    let prefix = format!("http://127.0.0.1:{port}/login?token=");
    url.strip_prefix(&prefix)
        .is_some_and(|token| !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The page's state.
pub struct App {
    pub device: Arc<Online>,
    pub guard: Arc<Guard>,
    entropy: Mutex<Box<dyn Entropy + Send>>,
}

/// A page server running on loopback.
pub struct PageServer {
    pub port: u16,
    pub guard: Arc<Guard>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PageServer {
    /// A fresh one-time link to the page.
    pub fn link(&self) -> String {
        self.guard.link()
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Starts the page on `127.0.0.1`: the port remembered in the home (or `port` when given, or
/// any free one), and writes [`APP_FILE`].
pub async fn start(device: Arc<Online>, port: Option<u16>) -> Result<PageServer> {
    let root = device.home.root().to_path_buf();
    let wanted = port.or_else(|| AppFile::read(&root).map(|f| f.port));
    let listener = match wanted {
        Some(p) => match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], p))).await
        {
            Ok(l) => l,
            Err(_) if port.is_none() => bind_any().await?,
            Err(e) => {
                return Err(DeviceError::user(format!(
                    "cannot serve the page on 127.0.0.1:{p}: {e}"
                )));
            }
        },
        None => bind_any().await?,
    };
    let port = listener
        .local_addr()
        .map_err(|e| DeviceError::user(format!("cannot serve the page: {e}")))?
        .port();
    let guard = Guard::new(port, Some(device.home.clone()));
    AppFile {
        port,
        pid: std::process::id(),
        key: guard.api_key.clone(),
    }
    .write(&root)
    .map_err(|e| {
        DeviceError::user(format!(
            "cannot write {}: {e}",
            root.join(APP_FILE).display()
        ))
    })?;
    let app = Arc::new(App {
        device: device.clone(),
        guard: guard.clone(),
        entropy: Mutex::new(crate::system::entropy("app").map_err(DeviceError::user)?),
    });
    let router = router(app);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the page stopped");
        }
    });
    // Devices coming online or going away show on the page: the node's connections are read
    // here (not by the page) and announced like any change.
    let watcher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if device.poll_online().await {
                for s in device.alliances() {
                    s.notify();
                }
            }
        }
    });
    Ok(PageServer {
        port,
        guard,
        tasks: vec![server, watcher],
    })
}

async fn bind_any() -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| DeviceError::user(format!("cannot serve the page on 127.0.0.1: {e}")))
}

fn router(app: Arc<App>) -> Router {
    let guard = app.guard.clone();
    Router::new()
        .route("/", get(home))
        .route("/start", get(start_page))
        .route("/session", get(session))
        .route("/setup", post(actions::setup))
        .route("/create", post(actions::create))
        .route("/join", post(actions::join))
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(style))
        .route("/a/{aid}", get(to_overview))
        .route("/a/{aid}/", get(overview))
        .route("/a/{aid}/print", get(print))
        .route("/a/{aid}/{page}", get(view))
        .route("/a/{aid}/history/{item}", get(history))
        .route("/a/{aid}/part/{part}", get(part))
        .route("/a/{aid}/events", get(events))
        .route("/a/{aid}/vision/text", get(vision_text))
        .route("/a/{aid}/vision/splice", post(vision_splice))
        .route("/a/{aid}/do/{action}", post(actions::action))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
        .with_state(app)
}

// ---- errors ----

/// An error the page shows: its message in plain words, never a raw error.
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl From<DeviceError> for PageError {
    fn from(e: DeviceError) -> Self {
        match &e {
            DeviceError::Store(store) => {
                // The details (the file, the system's words) go to the app's log; the page
                // says what happened in words.
                tracing::warn!(error = %e.message(), "the page could not use this device's files");
                PageError::new(StatusCode::INTERNAL_SERVER_ERROR, store_in_words(store))
            }
            _ => PageError::new(StatusCode::BAD_REQUEST, e.message()),
        }
    }
}

/// What a store error means for the person at the page, without file paths or the system's own
/// text (those are in the app's log).
fn store_in_words(e: &crate::store::StoreError) -> String {
    use crate::store::StoreError;
    let details = "The details are in the log of the window where the page was started.";
    match e {
        _ if e.is_disk_full() => {
            "This device's disk is full, so nothing was saved. Free some space on it, then try again.".into()
        }
        StoreError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied
                || source.raw_os_error() == Some(30) =>
        {
            format!("This device may not write its alliance files, so nothing was saved. {details}")
        }
        StoreError::Io { .. } => format!(
            "This device could not read or write its alliance files, so nothing was saved. {details}"
        ),
        StoreError::Corrupt { .. } => format!(
            "Part of this alliance's files on this device is damaged, so nothing was changed. \
             Restore them from a backup, or from another device once they sync. {details}"
        ),
        StoreError::Busy { .. } => {
            "Another program on this device is busy with this alliance. Try again in a moment.".into()
        }
        StoreError::NoIdentity { .. } => "This device is not set up yet. Reload the page.".into(),
        StoreError::NotFound(_) => "There is no such alliance on this device.".into(),
        StoreError::AlreadyExists(_) => "That alliance is already on this device.".into(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.status, views::refusal(&self.message)).into_response()
    }
}

async fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "There is no such page here.")
}

// ---- reading and editing, off the async threads ----

impl App {
    fn shared(&self, aid: &str) -> Result<Arc<SharedAlliance>, PageError> {
        let unknown = || PageError::new(StatusCode::NOT_FOUND, "No such alliance on this device.");
        let id: AllianceId = aid.parse().map_err(|_| unknown())?;
        self.device.alliance(&id).ok_or_else(unknown)
    }

    /// Runs `f` on the alliance as it is now (store lock held, other commands' writes read).
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        aid: &str,
        f: impl FnOnce(&Ctx<'_>) -> T + Send + 'static,
    ) -> Result<T, PageError> {
        let shared = self.shared(aid)?;
        let app = self.clone();
        let aid = shared.id.to_string();
        let online = app.device.online();
        let result = shared
            .run(LockMode::Shared, move |open: &mut OpenAlliance| {
                let identity = app.device.home.identity().ok();
                let me = identity
                    .as_ref()
                    .and_then(|i| open.replica().member_of(&i.key.device_id()));
                let ctx = Ctx {
                    view: open.replica().view(),
                    open,
                    me,
                    device: identity
                        .as_ref()
                        .map(|i| i.key.device_id().to_hex())
                        .unwrap_or_default(),
                    now: crate::system::now(),
                    aid,
                    online,
                };
                Ok(f(&ctx))
            })
            .await;
        result.map_err(|e| PageError::from(DeviceError::from(e)))
    }

    /// Runs one edit, through the same path as the `alliance` command's edits
    /// ([`crate::device::steps::edit_on`]): one signed change, persisted before this returns.
    async fn edit(
        self: &Arc<Self>,
        aid: &str,
        f: impl FnOnce(
            &mut crate::core::Replica,
            &crate::core::Writer<'_>,
            &mut dyn Entropy,
        ) -> Result<Edited>
        + Send
        + 'static,
    ) -> Result<Edited, PageError> {
        self.with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
            crate::device::steps::edit_on(open, identity, entropy, crate::system::now(), f)
        })
        .await
    }

    /// Runs `f` with the alliance open in `mode`, this device's identity and randomness.
    async fn with_open<T: Send + 'static>(
        self: &Arc<Self>,
        aid: &str,
        mode: LockMode,
        f: impl FnOnce(&mut OpenAlliance, &Identity, &mut dyn Entropy) -> Result<T> + Send + 'static,
    ) -> Result<T, PageError> {
        let shared = self.shared(aid)?;
        let app = self.clone();
        let result = shared
            .run(mode, move |open| {
                let identity = match app.device.home.identity() {
                    Ok(identity) => identity,
                    Err(e) => return Ok(Err(DeviceError::from(e))),
                };
                let mut entropy = app.entropy.lock().unwrap_or_else(|p| p.into_inner());
                Ok(f(open, &identity, entropy.as_mut()))
            })
            .await
            .map_err(DeviceError::from);
        Ok(result??)
    }
}

// ---- first run ----

fn csrf_of(c: &Option<Extension<Csrf>>) -> String {
    c.as_ref().map(|c| c.0.0.clone()).unwrap_or_default()
}

async fn home(State(app): State<Arc<App>>, csrf: Option<Extension<Csrf>>) -> Response {
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

async fn start_page(State(app): State<Arc<App>>, csrf: Option<Extension<Csrf>>) -> Response {
    let named = app.device.home.identity().is_ok();
    let list = alliances(&app);
    Html(views::start(&csrf_of(&csrf), &list, named).into_string()).into_response()
}

// ---- views ----

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

async fn to_overview(UrlPath(aid): UrlPath<String>) -> Response {
    Redirect::to(&format!("/a/{}/", aid.trim())).into_response()
}

async fn overview(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
    csrf: Option<Extension<Csrf>>,
) -> Result<Html<String>, PageError> {
    let csrf = csrf_of(&csrf);
    app.read(&aid, move |c| {
        Html(views::page(Page::Overview, c, &csrf).into_string())
    })
    .await
}

async fn view(
    State(app): State<Arc<App>>,
    UrlPath((aid, page)): UrlPath<(String, String)>,
    csrf: Option<Extension<Csrf>>,
) -> Result<Html<String>, PageError> {
    let Some(p) = Page::from_slug(&page).filter(|p| *p != Page::Overview) else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "There is no such page here.",
        ));
    };
    let csrf = csrf_of(&csrf);
    app.read(&aid, move |c| Html(views::page(p, c, &csrf).into_string()))
        .await
}

async fn print(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
) -> Result<Html<String>, PageError> {
    app.read(&aid, |c| Html(views::print(c).into_string()))
        .await
}

async fn history(
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
    app.read(&aid, move |c| {
        Html(views::history(c, &id, &csrf).into_string())
    })
    .await
}

async fn part(
    State(app): State<Arc<App>>,
    UrlPath((aid, name)): UrlPath<(String, String)>,
) -> Result<Html<String>, PageError> {
    app.read(&aid, move |c| {
        views::part(&name, c).map(|m| Html(m.into_string()))
    })
    .await?
    .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "There is no such part."))
}

async fn events(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
    Extension(session): Extension<SessionKey>,
) -> Result<Response, PageError> {
    Ok(events::stream(
        app.shared(&aid)?,
        app.guard.clone(),
        session,
    ))
}

/// The CSRF token of the session the request's cookie names: a page whose device restarted, or
/// that was signed in again from another tab, asks for it before it sends what it kept.
async fn session(csrf: Option<Extension<Csrf>>) -> Response {
    axum::Json(serde_json::json!({ "csrf": csrf_of(&csrf) })).into_response()
}

// ---- the vision ----

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

async fn vision_text(
    State(app): State<Arc<App>>,
    UrlPath(aid): UrlPath<String>,
) -> Result<Response, PageError> {
    let v = app.read(&aid, |c| vision_of(c.open)).await?;
    Ok(axum::Json(v).into_response())
}

#[derive(Deserialize)]
struct SpliceRequest {
    /// The version the page's splices were made against.
    base: Vec<String>,
    splices: Vec<Splice>,
}

async fn vision_splice(
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
            StatusCode::BAD_REQUEST,
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
