//! [`App`], the page's state: the running device, the page's guard and randomness; and the
//! three ways a handler reaches an alliance, each off the async threads under the store lock:
//! [`App::read`] (the read step of a view), [`App::edit`] (one edit through the device's
//! steps), [`App::with_open`].

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use super::error::PageError;
use super::read;
use super::security::Guard;
use super::views::Ctx;
use crate::core::{AllianceId, Edited, Entropy};
use crate::device::Online;
use crate::device::{DeviceError, Result};
use crate::store::shared::SharedAlliance;
use crate::store::{Identity, LockMode, OpenAlliance};

/// The page's state.
pub struct App {
    pub device: Arc<Online>,
    pub guard: Arc<Guard>,
    /// Whether reminders are shown as desktop notifications (the page's setting).
    pub reminders: Arc<super::reminders::Reminders>,
    entropy: Mutex<Box<dyn Entropy + Send>>,
}

impl App {
    /// The page's state on the running device, with its safety guard.
    pub(super) fn new(
        device: Arc<Online>,
        guard: Arc<Guard>,
        reminders: Arc<super::reminders::Reminders>,
    ) -> Result<App> {
        Ok(App {
            device,
            guard,
            reminders,
            entropy: Mutex::new(crate::system::entropy("app").map_err(DeviceError::user)?),
        })
    }

    // ---- reading and editing, off the async threads ----

    /// The alliance `aid` as this device serves it.
    pub(super) fn shared(&self, aid: &str) -> Result<Arc<SharedAlliance>, PageError> {
        let unknown = || PageError::new(StatusCode::NOT_FOUND, "No such alliance on this device.");
        let id: AllianceId = aid.parse().map_err(|_| unknown())?;
        self.device.alliance(&id).ok_or_else(unknown)
    }

    /// Reads the alliance as it is now (store lock held, other commands' writes read): the
    /// [`Ctx`] every view is rendered from, and whatever else `f` reads. Nothing is rendered
    /// while the lock is held.
    pub(super) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        aid: &str,
        f: impl FnOnce(&OpenAlliance, &Ctx) -> T + Send + 'static,
    ) -> Result<(Ctx, T), PageError> {
        let shared = self.shared(aid)?;
        let app = self.clone();
        let aid = shared.id.to_string();
        let online = app.device.online();
        let reminders = app.reminders.on();
        let result = shared
            .run(LockMode::Shared, move |open: &mut OpenAlliance| {
                let identity = app.device.home.identity().ok();
                let mut ctx = read::ctx(open, identity.as_ref(), aid, online, crate::system::now());
                ctx.reminders = reminders;
                let data = f(open, &ctx);
                Ok((ctx, data))
            })
            .await;
        result.map_err(|e| PageError::from(DeviceError::from(e)))
    }

    /// Runs one edit, through the same path as the `alliance` command's edits
    /// ([`crate::device::steps::edit_on`]): one signed change, persisted before this returns.
    pub(super) async fn edit(
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
    pub(super) async fn with_open<T: Send + 'static>(
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
