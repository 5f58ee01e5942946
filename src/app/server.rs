//! The page's server: bound on `127.0.0.1` (the remembered port, the one asked for, or any
//! free one), its routes behind the one safety middleware ([`super::security::guard`]), and
//! the watcher that announces devices coming online or going away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use super::forms::FirstRun;
use super::reminders::Reminders;
use super::security::{self, Guard};
use super::state::App;
use super::{actions, handlers, vision};
use crate::device::Online;
use crate::device::{DeviceError, Result};
use crate::store::{AppFile, StoreError, layout};

/// The largest request body the page takes (a vision of the longest allowed text fits).
pub const MAX_BODY: usize = 4 << 20;

/// A page server running on loopback.
pub struct PageServer {
    pub port: u16,
    pub guard: Arc<Guard>,
    reminders: Arc<Reminders>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PageServer {
    /// A fresh one-time link to the page.
    pub fn link(&self) -> String {
        self.guard.link()
    }

    /// Turns reminders on or off for this run (`serve --remind`), whatever the page's setting.
    pub fn set_reminders(&self, on: bool) {
        self.reminders.set(on);
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Starts the page on `127.0.0.1`: the port remembered in the home (or `port` when given, or
/// any free one), and writes the page's file ([`AppFile`]).
pub async fn start(device: Arc<Online>, port: Option<u16>) -> Result<PageServer> {
    let home = device.home.clone();
    let wanted = port.or_else(|| home.app_file().map(|f| f.port));
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
    // The page's setting survives a restart: reminders stay as the person left them.
    let remind = home.app_file().is_some_and(|f| f.reminders);
    home.save_app_file(&AppFile {
        port,
        pid: std::process::id(),
        key: guard.api_key.clone(),
        reminders: remind,
    })
    .map_err(|e| match e {
        StoreError::Io { source, .. } => DeviceError::user(format!(
            "cannot write {}: {source}",
            home.root().join(layout::APP_FILE).display()
        )),
        e => DeviceError::from(e),
    })?;
    let reminders = Arc::new(Reminders::new(remind));
    let reminding = super::reminders::spawn(device.clone(), reminders.clone());
    let app = Arc::new(App::new(device.clone(), guard.clone(), reminders.clone())?);
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
        reminders,
        tasks: vec![server, watcher, reminding],
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
        .route("/", get(handlers::home))
        .route("/start", get(handlers::start_page))
        .route("/session", get(handlers::session))
        .route(FirstRun::Setup.path(), post(actions::setup))
        .route(FirstRun::Create.path(), post(actions::create))
        .route(FirstRun::Join.path(), post(actions::join))
        .route("/assets/app.js", get(handlers::script))
        .route("/assets/app.css", get(handlers::style))
        .route("/a/{aid}", get(handlers::to_overview))
        .route("/a/{aid}/", get(handlers::overview))
        .route("/a/{aid}/print", get(handlers::print))
        .route("/a/{aid}/calendar.ics", get(handlers::calendar))
        .route("/a/{aid}/{page}", get(handlers::view))
        .route("/a/{aid}/history/{item}", get(handlers::history))
        .route("/a/{aid}/part/{part}", get(handlers::part))
        .route("/a/{aid}/events", get(handlers::events))
        .route("/a/{aid}/vision/text", get(vision::text))
        .route("/a/{aid}/vision/splice", post(vision::splice))
        .route("/a/{aid}/do/{action}", post(actions::action))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
        .with_state(app)
}
