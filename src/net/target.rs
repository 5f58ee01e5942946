//! The session's side of this device's store: a [`SharedAlliance`] is a session's
//! [`Target`], each call one step of the store (lock, pick up other commands' writes, verify and
//! persist, unlock), its errors told apart as the session needs (the peer's bad data, or this
//! device's own failure).
//!
//! The session calls its target synchronously; the driver (`net::session`) runs each of the
//! session's steps off the async workers (`block_in_place` on a multi-threaded runtime), so
//! verifying, applying and fsyncing a batch never stalls the page or other sessions' I/O.

use crate::core::DeviceId;
use crate::core::sync::{PeerSync, SyncMessage};
use crate::core::{SignedChange, Unverified};
use crate::net::NetError;
use crate::proto::frame::PassedAddrs;
use crate::proto::session::{Failed, Target};
use crate::store::shared::{SharedAlliance, SharedError};

impl From<SharedError> for NetError {
    fn from(e: SharedError) -> Self {
        match e {
            SharedError::Store(e) => NetError::Store(e),
            SharedError::BadChanges { peer, source } => NetError::BadChanges { peer, source },
            SharedError::Internal(what) => NetError::Internal(what),
        }
    }
}

/// The device's store is a session's target: each step takes the store lock, picks up other
/// commands' writes, and persists what verified before the lock is released.
impl Target for &SharedAlliance {
    type Error = NetError;

    fn generate(
        &mut self,
        peer: &mut PeerSync,
        to: &DeviceId,
    ) -> Result<Option<SyncMessage>, Failed<NetError>> {
        self.generate_for(peer, to)
            .map_err(|e| Failed::Local(e.into()))?
            .ok_or(Failed::PeerRemoved)
    }

    fn may_send(&mut self, to: &DeviceId) -> Result<(), Failed<NetError>> {
        match self.may_receive(to) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failed::PeerRemoved),
            Err(e) => Err(Failed::Local(e.into())),
        }
    }

    fn receive(
        &mut self,
        peer: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<(), Failed<NetError>> {
        self.receive_sync(peer, msg, from).map_err(failed)
    }

    fn receive_pushed(
        &mut self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, Failed<NetError>> {
        SharedAlliance::receive_pushed(self, changes, from).map_err(failed)
    }

    fn addresses_for(&mut self, to: &DeviceId) -> Vec<PassedAddrs> {
        SharedAlliance::addresses_for(self, to)
            .unwrap_or_default()
            .into_iter()
            .map(|(device, addrs, relay)| PassedAddrs {
                device: *device.as_bytes(),
                addrs,
                relay,
            })
            .collect()
    }

    fn learn_addresses(&mut self, from: &DeviceId, devices: Vec<PassedAddrs>) {
        let passed = devices
            .into_iter()
            .filter_map(|d| {
                let device = DeviceId::from_bytes(&d.device).ok()?;
                Some((device, d.addrs, d.relay))
            })
            .collect();
        if let Err(e) = SharedAlliance::learn_addresses(self, from, passed) {
            tracing::warn!(error = %e, "cannot keep the addresses a peer passed on");
        }
    }
}

/// Tells the peer's bad data from this device's own failures.
fn failed(e: SharedError) -> Failed<NetError> {
    match e {
        SharedError::BadChanges { source, .. } => Failed::Bad(source),
        e => Failed::Local(e.into()),
    }
}
