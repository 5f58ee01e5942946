//! What a running device (`serve`, `app`, `keeper`) prints as it runs, in a person's words:
//! who connected, joined or left, what arrived from whom, who was refused and why, from the
//! node's events. The raw
//! log lines are behind `-v`.

use std::sync::Arc;

use crate::core::{AllianceId, DeviceId};
use crate::net::session::NodeEvent;
use crate::store::LockMode;
use crate::store::shared::SharedAlliance;

/// Finds an alliance the device holds in memory now.
pub type Lookup = Arc<dyn Fn(&AllianceId) -> Option<Arc<SharedAlliance>> + Send + Sync>;

/// Prints node events in words until the stream ends. `several`: say which alliance.
pub fn print_events(
    tasks: &mut tokio::task::JoinSet<()>,
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    lookup: Lookup,
    several: bool,
) {
    tasks.spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(line) = in_words(&event, &lookup, several) {
                        crate::cli::output::write_stdout(&line);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// "1 change", "3 changes".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A person's name for a device of `shared` (its member's name, or the keeper's), or "a
/// device" with the start of its key.
pub fn name_of(shared: &SharedAlliance, device: &DeviceId) -> String {
    shared
        .with(LockMode::Shared, |o| {
            let roster = o.replica().roster();
            let hex = device.to_hex();
            Ok(match roster.device(&hex) {
                Some(d) if d.keeper => Some(format!("the keeper \"{}\"", d.name)),
                Some(_) => roster.member_of_device(&hex).map(|m| m.name.clone()),
                None => None,
            })
        })
        .ok()
        .flatten()
        .map(|n| crate::cli::output::one_line(&n))
        .unwrap_or_else(|| format!("a device ({})", device.short()))
}

/// ` ("Title")` when several alliances are held (the line must say which), else nothing.
fn title_of(shared: &SharedAlliance, several: bool) -> String {
    if !several {
        return String::new();
    }
    let title = shared
        .with(LockMode::Shared, |o| Ok(o.replica().roster().title))
        .unwrap_or_default();
    format!(" (\"{}\")", crate::cli::output::one_line(&title))
}

/// A node event as a line a person reads, or `None` when it says nothing worth reading.
fn in_words(event: &NodeEvent, lookup: &Lookup, several: bool) -> Option<String> {
    let (alliance, device) = match event {
        NodeEvent::Connected {
            alliance, device, ..
        }
        | NodeEvent::Ended {
            alliance, device, ..
        }
        | NodeEvent::Received {
            alliance, device, ..
        }
        | NodeEvent::HandedOver { alliance, device } => (alliance, device),
        NodeEvent::Refused { device, reason } => {
            return Some(format!(
                "Refused a device ({}): {}",
                device.short(),
                crate::cli::output::one_line(reason)
            ));
        }
    };
    let shared = lookup(alliance)?;
    let who = name_of(&shared, device);
    let title = title_of(&shared, several);
    Some(match event {
        NodeEvent::Connected { joined: true, .. } => format!("{who} joined{title}"),
        NodeEvent::Connected { .. } => format!("{who} connected{title}"),
        NodeEvent::Ended { error: None, .. } => format!("{who} disconnected{title}"),
        NodeEvent::Ended { error: Some(e), .. } => format!(
            "{who} disconnected{title}: {}",
            crate::cli::output::one_line(e)
        ),
        NodeEvent::Received { changes, .. } => {
            format!("{} from {who}{title}", count(*changes, "change", "changes"))
        }
        NodeEvent::HandedOver { .. } => {
            let title = shared
                .with(LockMode::Shared, |o| Ok(o.replica().roster().title))
                .unwrap_or_default();
            format!(
                "{who} handed over \"{}\": kept here from now on",
                crate::cli::output::one_line(&title)
            )
        }
        NodeEvent::Refused { .. } => return None,
    })
}
