//! The family's page (`alliance app`): a local web page served by this device, from its own
//! replica, live with the others' edits. It is the page's edge only: every edit goes through
//! the same calls as the `alliance` command ([`crate::ops`] and the core's `Replica` methods,
//! one signed change each, persisted before the page hears it worked).
//!
//! - [`security`]: the one middleware with all of the page's safety (Host, one-time link,
//!   session cookie, CSRF + Origin, headers).
//! - [`views`]: server-rendered HTML (maud), parts the script re-fetches.
//! - [`events`]: server-sent events fed by the alliance's change notifications.
//! - [`device`]: the running node the page shares with `alliance serve`.
//! - `assets/`: one script (the vision editor and live refresh) and one style sheet, embedded.
//!
//! See `docs/app.md`.

pub mod device;
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

use crate::cli::error::{CliError, Result};
use crate::core::conflicts::{Resolution, Target};
use crate::core::{AllianceId, Edited, Entropy, ItemId, NewCheckIn, Splice};
use crate::net::shared::SharedAlliance;
use crate::store::{Identity, LockMode, OpenAlliance};
use device::Device;
use security::{Csrf, Guard};
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
/// from [`APP_FILE`]). `None` when no page answers.
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
    serde_json::from_str::<Link>(body.trim())
        .ok()
        .map(|l| l.url)
}

/// The page's state.
pub struct App {
    pub device: Arc<Device>,
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
pub async fn start(device: Arc<Device>, port: Option<u16>) -> Result<PageServer> {
    let root = device.home.root().to_path_buf();
    let wanted = port.or_else(|| AppFile::read(&root).map(|f| f.port));
    let listener = match wanted {
        Some(p) => match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], p))).await
        {
            Ok(l) => l,
            Err(_) if port.is_none() => bind_any().await?,
            Err(e) => {
                return Err(CliError::user(format!(
                    "cannot serve the page on 127.0.0.1:{p}: {e}"
                )));
            }
        },
        None => bind_any().await?,
    };
    let port = listener
        .local_addr()
        .map_err(|e| CliError::user(format!("cannot serve the page: {e}")))?
        .port();
    let guard = Guard::new(port);
    AppFile {
        port,
        pid: std::process::id(),
        key: guard.api_key.clone(),
    }
    .write(&root)
    .map_err(|e| {
        CliError::user(format!(
            "cannot write {}: {e}",
            root.join(APP_FILE).display()
        ))
    })?;
    let app = Arc::new(App {
        device: device.clone(),
        guard: guard.clone(),
        entropy: Mutex::new(crate::system::entropy("app").map_err(CliError::user)?),
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
        .map_err(|e| CliError::user(format!("cannot serve the page on 127.0.0.1: {e}")))
}

fn router(app: Arc<App>) -> Router {
    let guard = app.guard.clone();
    Router::new()
        .route("/", get(home))
        .route("/start", get(start_page))
        .route("/setup", post(setup))
        .route("/create", post(create))
        .route("/join", post(join))
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
        .route("/a/{aid}/do/{action}", post(action))
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

impl From<CliError> for PageError {
    fn from(e: CliError) -> Self {
        let status = match &e {
            CliError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        PageError::new(status, e.message())
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
        let result = tokio::task::spawn_blocking(move || {
            let identity = app.device.home.identity().ok();
            let online = app.device.online();
            shared.with(LockMode::Shared, |open: &mut OpenAlliance| {
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
        })
        .await
        .map_err(|_| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page failed to read the alliance; please reload.",
            )
        })?;
        result.map_err(|e| PageError::from(CliError::from(e)))
    }

    /// Runs one edit, through the same path as the `alliance` command's edits
    /// ([`crate::ops::edit_on`]): one signed change, persisted before this returns.
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
            crate::ops::edit_on(open, identity, entropy, crate::system::now(), f)
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
        let result = tokio::task::spawn_blocking(move || -> Result<T> {
            let identity = app.device.home.identity()?;
            let mut entropy = app.entropy.lock().unwrap_or_else(|p| p.into_inner());
            shared
                .with(mode, |open| Ok(f(open, &identity, entropy.as_mut())))
                .map_err(CliError::from)?
        })
        .await
        .map_err(|_| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The change failed; nothing was saved. Please reload.",
            )
        })?;
        Ok(result?)
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

/// The answer to a form: what happened, in words, and where to go next, or a bit of HTML to
/// show (a new invite's ticket).
#[derive(Serialize, Default)]
struct Answer {
    ok: bool,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    go: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

fn answer(result: Result<Answer, PageError>) -> Response {
    match result {
        Ok(a) => axum::Json(a).into_response(),
        Err(e) => (
            e.status,
            axum::Json(Answer {
                ok: false,
                message: e.message,
                ..Answer::default()
            }),
        )
            .into_response(),
    }
}

/// A form's fields (a field may repeat: checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A text field, checked: line breaks made `\n`, no other control characters.
    fn text(&self, name: &str) -> Result<String, PageError> {
        let v = self.all(name).first().copied().unwrap_or("");
        clean(name, v)
    }

    fn id(&self, name: &str) -> Result<ItemId, PageError> {
        let v = self.text(name)?;
        v.trim()
            .parse()
            .map_err(|e: crate::core::ids::InvalidItemId| {
                PageError::new(StatusCode::BAD_REQUEST, e.to_string())
            })
    }

    fn ids(&self, name: &str) -> Result<Vec<ItemId>, PageError> {
        self.all(name)
            .into_iter()
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|e: crate::core::ids::InvalidItemId| {
                        PageError::new(StatusCode::BAD_REQUEST, e.to_string())
                    })
            })
            .collect()
    }
}

/// Text from the page: `\r\n` becomes `\n`; other control characters than newline and tab are
/// refused (no keyboard types them; a forged form might).
pub fn clean(field: &str, v: &str) -> Result<String, PageError> {
    let v = v.replace("\r\n", "\n");
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("the {field} contains a control character; please type plain text"),
        ));
    }
    Ok(v)
}

fn form_fields(body: &axum::body::Bytes) -> Result<Fields, PageError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(Fields)
        .map_err(|_| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "The form could not be read; please reload the page.",
            )
        })
}

async fn setup(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let name = f.text("name")?;
            let mut entropy = crate::system::entropy("app-setup").map_err(CliError::user)?;
            let (identity, _) = crate::ops::init(&app.device.home, &name, entropy.as_mut())?;
            app.device.refresh().await?;
            Ok(Answer {
                ok: true,
                message: format!("This device is set up for {}.", identity.name),
                go: Some("/".into()),
                html: None,
            })
        }
        .await,
    )
}

async fn create(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let (title, role) = (f.text("title")?, f.text("role")?);
            let home = app.device.home.clone();
            let identity = home.identity().map_err(CliError::from)?;
            let mut entropy = crate::system::entropy("app-create").map_err(CliError::user)?;
            let (id, _) = crate::ops::create_alliance(
                &home,
                &identity,
                entropy.as_mut(),
                crate::system::now(),
                &title,
                &role,
            )?;
            app.device.refresh().await?;
            Ok(Answer {
                ok: true,
                message: format!("Created \"{}\".", title.trim()),
                go: Some(format!("/a/{id}/")),
                html: None,
            })
        }
        .await,
    )
}

async fn join(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let ticket = f.text("ticket")?;
            let name = f.text("name")?;
            let name = (!name.trim().is_empty()).then_some(name);
            let mut entropy = crate::system::entropy("app-join").map_err(CliError::user)?;
            let mut net = app.device.config.clone();
            // The join dials out from a fresh socket; the node keeps its own port.
            if net.bind.is_some_and(|b| b.port() != 0) {
                net.bind = net.bind.map(|b| SocketAddr::new(b.ip(), 0));
            }
            let joined = crate::ops::join(
                &app.device.home,
                &net,
                &ticket,
                name.as_deref(),
                entropy.as_mut(),
                crate::system::now(),
            )
            .await?;
            app.device.refresh().await?;
            Ok(Answer {
                ok: true,
                message: format!(
                    "Joined \"{}\" as {}; received {} verified changes.",
                    joined.title, joined.name, joined.received
                ),
                go: Some(format!("/a/{}/", joined.alliance)),
                html: None,
            })
        }
        .await,
    )
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
) -> Result<Response, PageError> {
    Ok(events::stream(app.shared(&aid)?))
}

// ---- the vision ----

/// The vision as this device has it, with the version (heads) it is at.
#[derive(Serialize)]
struct VisionText {
    ok: bool,
    heads: Vec<String>,
    text: String,
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
            clean("vision", &s.insert)?;
            if s.insert.contains('\r') {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    "the vision contains a control character; please type plain text",
                ));
            }
        }
        let splices = req.splices;
        app.with_open(&aid, LockMode::Exclusive, move |open, identity, entropy| {
            crate::ops::edit_on(open, identity, entropy, crate::system::now(), |r, w, _| {
                Ok(r.splice_vision_at(w, &base, &splices)?)
            })?;
            Ok(vision_of(open))
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
                message: e.message,
            }),
        )
            .into_response(),
    }
}

// ---- the forms ----

/// What an edit did, as the CLI reports it: its summary, capitalised.
fn said(edited: &Edited) -> String {
    if edited.change.is_none() {
        return format!("Nothing changed: {}", edited.summary);
    }
    let mut s = edited.summary.clone();
    if let Some(first) = s.get(0..1) {
        s.replace_range(0..1, &first.to_uppercase());
    }
    s
}

fn done(edited: Edited) -> Answer {
    Answer {
        ok: true,
        message: said(&edited),
        ..Answer::default()
    }
}

async fn action(
    State(app): State<Arc<App>>,
    UrlPath((aid, what)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    answer(run_action(&app, &aid, &what, &body).await)
}

async fn run_action(
    app: &Arc<App>,
    aid: &str,
    what: &str,
    body: &axum::body::Bytes,
) -> Result<Answer, PageError> {
    let f = form_fields(body)?;
    Ok(match what {
        "need-add" => {
            let text = f.text("text")?;
            done(
                app.edit(aid, move |r, w, e| Ok(r.add_need(w, e, &text)?))
                    .await?,
            )
        }
        "need-edit" => {
            let (id, text) = (f.id("id")?, f.text("text")?);
            done(
                app.edit(aid, move |r, w, _| Ok(r.edit_need(w, &id, &text)?))
                    .await?,
            )
        }
        "need-remove" => {
            let id = f.id("id")?;
            done(
                app.edit(aid, move |r, w, _| Ok(r.remove_need(w, &id)?))
                    .await?,
            )
        }
        "plan-add" => {
            let (when, how, agenda) = (f.text("when")?, f.text("how")?, f.text("agenda")?);
            let who = f.ids("with")?;
            done(
                app.edit(aid, move |r, w, e| {
                    Ok(r.add_plan(w, e, &when, &how, &agenda, &who)?)
                })
                .await?,
            )
        }
        "plan-edit" => {
            let id = f.id("id")?;
            let opt = |name: &str| -> Result<Option<String>, PageError> {
                if f.all(name).is_empty() {
                    Ok(None)
                } else {
                    f.text(name).map(Some)
                }
            };
            let (when, how, agenda) = (opt("when")?, opt("how")?, opt("agenda")?);
            // Only the fields that differ from what is there now, as `plan edit --when` does:
            // a reschedule must not also rewrite the place and agenda.
            let view = app
                .read(aid, {
                    let id = id.clone();
                    move |c| c.view.plan.iter().find(|p| p.id == id).cloned()
                })
                .await?;
            let changed =
                |new: Option<String>, old: Option<&String>| new.filter(|n| Some(n) != old);
            let when = changed(when, view.as_ref().map(|p| &p.when));
            let how = changed(how, view.as_ref().map(|p| &p.how));
            let agenda = changed(agenda, view.as_ref().map(|p| &p.agenda));
            if view.is_some() && when.is_none() && how.is_none() && agenda.is_none() {
                return Ok(Answer {
                    ok: true,
                    message: "Nothing changed.".into(),
                    ..Answer::default()
                });
            }
            done(
                app.edit(aid, move |r, w, _| {
                    Ok(r.edit_plan(w, &id, when.as_deref(), how.as_deref(), agenda.as_deref())?)
                })
                .await?,
            )
        }
        "expect-add" => {
            let text = f.text("text")?;
            let holder = f.ids("holder")?.into_iter().next();
            let of = f.ids("of")?;
            done(
                app.edit(aid, move |r, w, e| {
                    Ok(r.add_expectation(w, e, &text, holder.as_ref(), &of)?)
                })
                .await?,
            )
        }
        "expect-edit" => {
            let (id, text) = (f.id("id")?, f.text("text")?);
            done(
                app.edit(aid, move |r, w, _| Ok(r.edit_expectation(w, &id, &text)?))
                    .await?,
            )
        }
        "expect-agree" => {
            let id = f.id("id")?;
            done(app.edit(aid, move |r, w, _| Ok(r.agree(w, &id)?)).await?)
        }
        "expect-retire" => {
            let id = f.id("id")?;
            done(app.edit(aid, move |r, w, _| Ok(r.retire(w, &id)?)).await?)
        }
        "checkin-add" => {
            let rating = rating(&f)?;
            let reflection = f.text("reflection")?;
            let proposed_changes = lines(&f.text("propose")?);
            let next_in_days = crate::cli::commands::checkin::parse_cadence(&f.text("next")?)?;
            let new = NewCheckIn {
                date: crate::system::now().date(),
                rating,
                reflection,
                proposed_changes,
                next_in_days,
            };
            done(
                app.edit(aid, move |r, w, e| Ok(r.add_checkin(w, e, new)?))
                    .await?,
            )
        }
        "checkin-reflect" => {
            let id = f.id("id")?;
            let rating = rating(&f)?;
            let reflection = f.text("reflection")?;
            let propose = lines(&f.text("propose")?);
            done(
                app.edit(aid, move |r, w, _| {
                    Ok(r.reflect(w, &id, rating, &reflection, &propose)?)
                })
                .await?,
            )
        }
        "resolve" => {
            let id = f.text("id")?;
            let target = if id.trim().eq_ignore_ascii_case("alliance") {
                Target::Alliance
            } else {
                Target::Item(f.id("id")?)
            };
            let field = f.text("field")?;
            let pick: usize =
                f.text("pick")?.trim().parse().map_err(|_| {
                    PageError::new(StatusCode::BAD_REQUEST, "choose one of the values")
                })?;
            done(
                app.edit(aid, move |r, w, _| {
                    Ok(r.resolve(w, &target, &field, Resolution::Pick(pick))?)
                })
                .await?,
            )
        }
        "seen" => {
            let n = app
                .with_open(aid, LockMode::Shared, |open, _, _| {
                    let heads = open.replica().heads();
                    crate::cli::points::save_seen(open, &heads, crate::system::now())?;
                    Ok(open.replica().len())
                })
                .await?;
            // The seen marker is device-local: tell this device's pages ourselves.
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Answer {
                ok: true,
                message: format!("Marked all {n} changes as read."),
                ..Answer::default()
            }
        }
        "invite" => {
            let valid = crate::cli::commands::invite::parse_duration(&f.text("expires")?)?;
            let role = f.text("role")?;
            let addrs = app.device.info().map(|i| i.addrs).unwrap_or_default();
            let (invite, ticket) = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::ops::create_invite(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        &role,
                        valid,
                        &addrs,
                    )
                })
                .await?;
            let ticket = ticket.to_string();
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Answer {
                ok: true,
                message: format!("Invite {} made.", invite.id),
                html: Some(views::ticket(&ticket, &invite).into_string()),
                ..Answer::default()
            }
        }
        "invite-revoke" => {
            let id = f.text("id")?;
            let id = app
                .with_open(aid, LockMode::Exclusive, move |open, _, _| {
                    crate::ops::revoke_invite(open, &id)
                })
                .await?;
            // Invites are device-local: tell this page's parts ourselves.
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Answer {
                ok: true,
                message: format!("Revoked invite {id}; its ticket no longer works."),
                ..Answer::default()
            }
        }
        _ => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                "That is not something this page does.",
            ));
        }
    })
}

fn rating(f: &Fields) -> Result<i64, PageError> {
    f.text("rating")?
        .trim()
        .parse()
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "choose a rating from 1 to 5"))
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
