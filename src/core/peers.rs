//! What this device knows about reaching the other member devices (device-local, not synced):
//! addresses learnt from tickets and earlier connections, and when each was last seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::ids::Timestamp;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Direct socket addresses ("192.168.1.20:51820"), newest first.
    pub addrs: Vec<String>,
    /// The relay the peer was last reachable through, if any.
    pub relay: Option<String>,
    pub last_seen: Option<i64>,
    /// What went wrong the last time, if the last attempt failed.
    pub last_error: Option<String>,
    /// Set while the peer is quarantined (its data made Automerge panic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<PeerQuarantine>,
    /// What this device's person calls that device ("Zoe's phone"); device-local, like the
    /// rest of the book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why and until when a peer is quarantined: its connections are refused and it is not
/// dialled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerQuarantine {
    pub reason: String,
    pub since: i64,
    /// Seconds since the Unix epoch, as [`Timestamp`].
    pub until: i64,
}

/// Device key (hex) -> what is known about reaching it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerBook {
    pub peers: BTreeMap<String, PeerInfo>,
}

/// Addresses kept per peer.
pub const MAX_ADDRS: usize = 8;

impl PeerBook {
    /// Records a successful contact with `device` at `addrs`.
    pub fn seen(&mut self, device: &str, addrs: &[String], relay: Option<String>, now: Timestamp) {
        let p = self.peers.entry(device.to_string()).or_default();
        for a in addrs.iter().rev() {
            p.addrs.retain(|x| x != a);
            p.addrs.insert(0, a.clone());
        }
        p.addrs.truncate(MAX_ADDRS);
        if relay.is_some() {
            p.relay = relay;
        }
        p.last_seen = Some(now.0);
        p.last_error = None;
    }

    /// Records addresses learnt without contact (from a ticket).
    pub fn learn(&mut self, device: &str, addrs: &[String], relay: Option<String>) {
        let p = self.peers.entry(device.to_string()).or_default();
        for a in addrs {
            if !p.addrs.contains(a) {
                p.addrs.push(a.clone());
            }
        }
        p.addrs.truncate(MAX_ADDRS);
        if p.relay.is_none() {
            p.relay = relay;
        }
    }

    /// Quarantines `device` for `secs` from `now`.
    pub fn quarantine(&mut self, device: &str, reason: &str, now: Timestamp, secs: u64) {
        self.peers.entry(device.to_string()).or_default().quarantine = Some(PeerQuarantine {
            reason: reason.to_string(),
            since: now.0,
            until: now
                .0
                .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
        });
    }

    /// The quarantine of `device`, if it is still in force at `now`.
    pub fn quarantined(&self, device: &str, now: Timestamp) -> Option<&PeerQuarantine> {
        self.peers
            .get(device)?
            .quarantine
            .as_ref()
            .filter(|q| now.0 < q.until)
    }

    pub fn failed(&mut self, device: &str, error: &str) {
        self.peers.entry(device.to_string()).or_default().last_error = Some(error.to_string());
    }
}
