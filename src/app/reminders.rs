//! Reminders from the running page (`alliance app`) or `serve`: opt-in (off by default; the
//! page's setting, kept in the page's file, or `serve --remind`), each shown once as a desktop
//! notification through the desktop's notification service (D-Bus, `notify-rust`). What is due
//! is the core's pure answer (`core::reminders::due`) for this device's person, on their local
//! day; only the sending is here.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::TimeZone;

use crate::core::reminders::{Reminder, due};
use crate::device::Online;
use crate::store::LockMode;

/// How often the running device looks for reminders (and how soon after it starts).
const CHECK_EVERY: Duration = Duration::from_secs(60);
const FIRST_CHECK: Duration = Duration::from_secs(2);

/// Whether reminders are on, and which were shown by this process.
#[derive(Debug, Default)]
pub struct Reminders {
    on: AtomicBool,
    shown: Mutex<HashSet<String>>,
}

impl Reminders {
    pub fn new(on: bool) -> Reminders {
        Reminders {
            on: AtomicBool::new(on),
            shown: Mutex::default(),
        }
    }

    pub fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// The reminders of `all` not shown yet (and from now on counted as shown).
    fn fresh(&self, all: Vec<Reminder>) -> Vec<Reminder> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        all.into_iter()
            .filter(|r| shown.insert(r.key.clone()))
            .collect()
    }
}

/// Today, in this computer's time zone (the sessions' times are the family's local times).
fn local_today() -> time::Date {
    let now = crate::system::now();
    let day = chrono::Local
        .timestamp_opt(now.0, 0)
        .single()
        .map(|t| t.date_naive());
    day.and_then(|d| {
        use chrono::Datelike;
        let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
        time::Date::from_calendar_date(d.year(), month, u8::try_from(d.day()).ok()?).ok()
    })
    .unwrap_or_else(|| crate::core::calendar::day_of(now))
}

/// What is due now for this device's person, in every alliance it serves.
async fn due_now(device: &Online) -> Vec<Reminder> {
    let Ok(identity) = device.home.identity() else {
        return Vec::new();
    };
    let key = identity.key.device_id();
    let today = local_today();
    let mut out = Vec::new();
    for shared in device.alliances() {
        let found = shared
            .run(LockMode::Shared, move |open| {
                let replica = open.replica();
                Ok(replica
                    .member_of(&key)
                    .map(|me| due(&replica.view(), &me, today))
                    .unwrap_or_default())
            })
            .await;
        out.extend(found.unwrap_or_default());
    }
    out
}

/// Shows one reminder; a desktop without a notification service is logged, not an error.
async fn show(r: &Reminder) {
    let sent = notify_rust::Notification::new()
        .appname("alliance")
        .summary(&r.title)
        .body(&r.body)
        .show_async()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "a reminder could not be shown (no desktop notification service?)");
    }
}

/// Looks for reminders every minute while the device runs, and shows the new ones when on.
pub fn spawn(device: Arc<Online>, reminders: Arc<Reminders>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_CHECK).await;
        loop {
            if reminders.on() {
                for r in reminders.fresh(due_now(&device).await) {
                    show(&r).await;
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    })
}
