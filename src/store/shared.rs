//! An alliance in this device's store, shared by everything a running device does with it (its
//! sessions, the page, `serve`'s output): the store lock per step, panic recovery and reload,
//! and the stream of fresh changes live sessions push. [`SharedAlliance::run`] is the one async
//! entry: it runs a step on a blocking thread, never on the async ones. The session's side of
//! it (the [`Target`](crate::proto::session::Target) a session reads and writes through) is a
//! thin adapter in `net::target`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::constants::{MAX_BATCH_SECS, PEER_QUARANTINE_SECS};
use crate::core::peers::PeerBook;
use crate::core::replica::Budget;
use crate::core::sync::{PeerSync, SyncError, SyncMessage};
use crate::core::{
    AllianceId, DeviceId, DeviceKey, Entropy, ReceiveError, SignedChange, Timestamp, Unverified,
    Writer,
};
use crate::proto::session::{Fresh, FreshChanges};
use crate::store::{LockMode, OpenAlliance, StoreError};

/// Errors of a step on a [`SharedAlliance`]. Each converts to the network layer's error with
/// the same message (`NetError`'s `Store`, `BadChanges` and `Internal`).
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{peer} sent changes that failed verification and was disconnected: {source}")]
    BadChanges {
        peer: String,
        #[source]
        source: SyncError,
    },
    #[error("{0}; the device goes on (please report this as a bug)")]
    Internal(String),
}

/// What a step that panicked (or could not run) answers.
const STEP_FAILED: &str = "a step on the alliance failed unexpectedly";

/// The time budget of one received batch: out of time after [`MAX_BATCH_SECS`].
fn batch_clock() -> impl Fn() -> bool + Sync {
    let start = std::time::Instant::now();
    move || start.elapsed() >= Duration::from_secs(MAX_BATCH_SECS)
}

/// How many [`Fresh`] notices a slow session may fall behind before it catches up with a
/// sync round instead.
const FRESH_BACKLOG: usize = 1024;

/// An alliance in this device's store, shared by the sessions of a running device. The store
/// lock is taken for each step and released in between, so other `alliance` commands can write
/// while `serve` runs; their writes are picked up at the next step.
/// Where a device can be reached: its key, its direct addresses, its relay.
pub type Reachable = (DeviceId, Vec<String>, Option<String>);

pub struct SharedAlliance {
    pub id: AllianceId,
    open: Mutex<OpenAlliance>,
    changed: watch::Sender<u64>,
    fresh: broadcast::Sender<Fresh>,
}

impl SharedAlliance {
    pub fn new(mut open: OpenAlliance) -> Arc<Self> {
        open.unlock();
        open.track_persisted();
        Arc::new(SharedAlliance {
            id: open.replica().id(),
            open: Mutex::new(open),
            changed: watch::channel(0).0,
            fresh: broadcast::channel(FRESH_BACKLOG).0,
        })
    }

    /// [`SharedAlliance::with`] on a blocking thread: the one entry for async callers (the
    /// page's handlers), so that the store's locks and files are never waited on by an async
    /// thread.
    pub async fn run<T, F>(self: &Arc<Self>, mode: LockMode, f: F) -> Result<T, SharedError>
    where
        T: Send + 'static,
        F: FnOnce(&mut OpenAlliance) -> Result<T, SharedError> + Send + 'static,
    {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.with(mode, f))
            .await
            .unwrap_or_else(|_| Err(SharedError::Internal(STEP_FAILED.into())))
    }

    /// Runs `f` on the alliance with its store lock held and fresh from disk. Changes that
    /// other commands wrote, and changes `f` persists, go out to the live sessions.
    pub fn with<T>(
        &self,
        mode: LockMode,
        f: impl FnOnce(&mut OpenAlliance) -> Result<T, SharedError>,
    ) -> Result<T, SharedError> {
        self.with_from(mode, None, f)
    }

    /// [`SharedAlliance::with`] for changes received from the device `from`.
    fn with_from<T>(
        &self,
        mode: LockMode,
        from: Option<DeviceId>,
        f: impl FnOnce(&mut OpenAlliance) -> Result<T, SharedError>,
    ) -> Result<T, SharedError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let external = open.relock(mode)?;
        // A panic in a step (a bug: nothing from outside should cause one) must neither take
        // the device down nor leave the store locked against every other command.
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut open))) {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("a step on the alliance panicked; reloading it from the store");
                if let Err(e) = open.reload() {
                    tracing::error!(error = %e, "cannot reload the alliance from the store");
                }
                Err(SharedError::Internal(STEP_FAILED.into()))
            }
        };
        if let Err(SharedError::BadChanges { source, .. }) = &result
            && source.needs_reload()
        {
            // A batch failed halfway or made Automerge panic: what is in memory can no longer
            // be trusted. Everything persisted was verified; load that again.
            tracing::warn!(reason = %source, "reloading the alliance from the store");
            if let Err(e) = open.reload() {
                tracing::error!(error = %e, "cannot reload the alliance from the store");
            }
        }
        open.keep_tips();
        let persisted = open.take_persisted();
        open.unlock();
        // Announced with the lock on this alliance still held, so that changes go out to the
        // sessions in the order they entered the replica.
        if !external.is_empty() {
            self.announce(Fresh::Changes(Arc::new(FreshChanges {
                from: None,
                changes: external,
            })));
        }
        if !persisted.is_empty() {
            self.announce(Fresh::Changes(Arc::new(FreshChanges {
                from,
                changes: persisted,
            })));
        }
        drop(open);
        result
    }

    fn announce(&self, fresh: Fresh) {
        // No live session listening is fine.
        let _ = self.fresh.send(fresh);
        self.notify();
    }

    /// Tells observers that the alliance changed.
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Wakes whenever the alliance changed (for observers: tests, benchmarks, status output).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Every change that enters the replica from now on, for a live session to pass on.
    pub fn fresh(&self) -> broadcast::Receiver<Fresh> {
        self.fresh.subscribe()
    }

    /// Picks up writes by other processes (cheap when there are none).
    pub fn poll_disk(&self) -> Result<(), SharedError> {
        let changed = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.changed_on_disk()
        };
        if changed {
            self.with(LockMode::Shared, |_| Ok(()))?;
        }
        Ok(())
    }

    /// Whether `device` was a device of the alliance and was removed (or its person was).
    pub fn is_removed(&self, device: &DeviceId) -> Result<bool, SharedError> {
        self.with(LockMode::Shared, |o| Ok(o.replica().is_removed(device)))
    }

    /// Whether `device` may sync with this alliance now: a member device or a keeper, neither
    /// removed.
    pub fn is_peer(&self, device: &DeviceId) -> Result<bool, SharedError> {
        self.with(LockMode::Shared, |o| Ok(o.replica().is_peer(device)))
    }

    /// The devices to keep in sync with, other than `me`: member devices and keepers (removed
    /// devices, and devices of removed people, are not: they are never dialled).
    pub fn peer_devices(&self, me: &DeviceId) -> Result<Vec<DeviceId>, SharedError> {
        self.with(LockMode::Shared, |o| Ok(o.replica().peer_devices(me)))
    }

    /// What this device knows of reaching the alliance's other devices but `to`, to pass on
    /// to `to` (device, addresses, relay): its address book, for devices that sync now.
    pub fn addresses_for(&self, to: &DeviceId) -> Result<Vec<Reachable>, SharedError> {
        self.with(LockMode::Shared, |o| {
            let book = o.peer_book()?;
            let replica = o.replica();
            Ok(book
                .peers
                .iter()
                .filter(|(_, info)| !info.addrs.is_empty() || info.relay.is_some())
                .filter_map(|(key, info)| Some((key.parse::<DeviceId>().ok()?, info)))
                .filter(|(device, _)| device != to && replica.is_peer(device))
                .take(crate::constants::MAX_PASSED_DEVICES)
                .map(|(device, info)| (device, info.addrs.clone(), info.relay.clone()))
                .collect())
        })
    }

    /// Keeps addresses `from` passed on, for devices that sync with this alliance now (others
    /// are dropped); a device's own addresses come with its hello, not from a third.
    pub fn learn_addresses(
        &self,
        from: &DeviceId,
        passed: Vec<Reachable>,
    ) -> Result<(), SharedError> {
        self.with(LockMode::Exclusive, |o| {
            let replica = o.replica();
            let useful: Vec<_> = passed
                .into_iter()
                .filter(|(device, _, _)| device != from && replica.is_peer(device))
                .collect();
            let book = o.peer_book()?;
            let new = useful.iter().any(|(device, addrs, relay)| {
                let known = book.peers.get(&device.to_hex());
                addrs
                    .iter()
                    .any(|a| !known.is_some_and(|k| k.addrs.contains(a)))
                    || (relay.is_some() && known.is_none_or(|k| k.relay.is_none()))
            });
            if new {
                o.update_peer_book(|book| {
                    for (device, addrs, relay) in &useful {
                        book.learn(&device.to_hex(), addrs, relay.clone());
                    }
                })?;
            }
            Ok(())
        })
    }

    /// Addresses to try for `device` besides the address book's: a keeper's, as its ticket
    /// gave them when it was added (kept in the document, so every member can reach it).
    pub fn dial_hints(&self, device: &DeviceId) -> Vec<String> {
        self.with(LockMode::Shared, |o| {
            Ok(o.replica()
                .roster()
                .device(&device.to_hex())
                .filter(|d| d.keeper)
                .map(|d| d.addrs.clone())
                .unwrap_or_default())
        })
        .unwrap_or_default()
    }

    pub fn peer_book(&self) -> Result<PeerBook, SharedError> {
        self.with(LockMode::Shared, |o| Ok(o.peer_book()?))
    }

    /// Updates the address book after contact with `peer` (or a failure).
    pub fn record_contact(
        &self,
        peer: &DeviceId,
        addrs: &[String],
        result: Result<(), &str>,
        now: Timestamp,
    ) -> Result<(), SharedError> {
        self.with(LockMode::Exclusive, |o| {
            Ok(o.update_peer_book(|book| match result {
                Ok(()) => book.seen(&peer.to_hex(), addrs, None, now),
                Err(e) => book.failed(&peer.to_hex(), e),
            })?)
        })
    }

    /// The persisted sync state with `peer` (fresh if none).
    pub fn load_peer_sync(&self, peer: &DeviceId) -> PeerSync {
        self.with(LockMode::Shared, |o| {
            Ok(o.sync_state(&peer.to_hex())?
                .map(|b| PeerSync::decode(&b))
                .unwrap_or_default())
        })
        .unwrap_or_default()
    }

    /// Persists the sync state with `peer`.
    pub fn save_peer_sync(&self, peer: &DeviceId, sync: &PeerSync) {
        let bytes = sync.encode();
        let _ = self.with(LockMode::Exclusive, |o| {
            Ok(o.save_sync_state(&peer.to_hex(), &bytes)?)
        });
    }

    /// Quarantines a peer whose data made Automerge panic (`now` is the time of the decision):
    /// its connections are refused and it is not dialled for [`PEER_QUARANTINE_SECS`].
    pub fn quarantine(&self, peer: &DeviceId, reason: &str, now: Timestamp) {
        let result = self.with(LockMode::Exclusive, |o| {
            Ok(o.update_peer_book(|book| {
                book.quarantine(&peer.to_hex(), reason, now, PEER_QUARANTINE_SECS)
            })?)
        });
        if let Err(e) = result {
            tracing::error!(peer = %peer.short(), error = %e, "cannot record the quarantine");
        }
    }

    /// Admits a device that presents an invite: uses up the invite (persisted first, so it can
    /// never be used twice), then adds the person and their device with a change this device
    /// signs. Returns the refusal reason on failure; nothing is written then.
    pub fn admit(
        &self,
        peer: &DeviceId,
        name: &str,
        secret: &[u8; 32],
        key: &DeviceKey,
        entropy: &mut dyn Entropy,
        now: Timestamp,
    ) -> Result<(), String> {
        let result = self.with(LockMode::Exclusive, |o| {
            Ok(admit_on(o, peer, name, secret, key, entropy, now))
        });
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Admission::Refused(reason))) => Err(reason),
            Ok(Err(Admission::Failed(e))) | Err(e) => Err(e.to_string()),
        }
    }

    /// Whether `to` may be sent anything (it is a member device, not removed), and if so the
    /// next sync message for it; both under one hold of the lock, so that a removal that
    /// entered the replica is seen before anything is generated for the removed device.
    /// `None` when `to` may receive nothing.
    pub fn generate_for(
        &self,
        peer: &mut PeerSync,
        to: &DeviceId,
    ) -> Result<Option<Option<SyncMessage>>, SharedError> {
        self.with(LockMode::Shared, |o| {
            Ok(o.replica()
                .may_receive(to)
                .then(|| peer.generate(o.replica())))
        })
    }

    /// Whether `to` may be sent anything (it is a member device, not removed).
    pub fn may_receive(&self, to: &DeviceId) -> Result<bool, SharedError> {
        self.with(LockMode::Shared, |o| Ok(o.replica().may_receive(to)))
    }

    /// Receives a sync message from `from`: verifies and applies what it carries, persists
    /// what verified (a whole history as the snapshot) and announces it.
    pub fn receive_sync(
        &self,
        peer: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<(), SharedError> {
        let loaded = self.with_from(LockMode::Exclusive, Some(*from), |o| {
            let clock = batch_clock();
            let applied = peer
                .receive_within(o.replica_mut(), msg, &Budget::until(&clock))
                .map_err(|source| SharedError::BadChanges {
                    peer: from.short(),
                    source,
                })?;
            if applied.loaded > 0 {
                // A whole history arrived as one document: store it as the snapshot.
                o.compact()?;
            } else {
                o.persist(&applied.new)?;
            }
            Ok(applied.loaded)
        })?;
        if loaded > 0 {
            self.announce(Fresh::Resync);
        }
        Ok(())
    }

    /// Receives changes `from` pushed live: verifies, applies and persists them. `false` when
    /// they build on changes this device does not have (a sync round fetches those).
    pub fn receive_pushed(
        &self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, SharedError> {
        self.with_from(LockMode::Exclusive, Some(*from), |o| {
            let clock = batch_clock();
            match o
                .replica_mut()
                .receive_within(changes, &Budget::until(&clock))
            {
                Ok(received) => {
                    o.persist(&received.new)?;
                    Ok(true)
                }
                Err(ReceiveError::MissingDependencies { .. }) => Ok(false),
                Err(e) => Err(SharedError::BadChanges {
                    peer: from.short(),
                    source: e.into(),
                }),
            }
        })
    }
}

/// Why [`SharedAlliance::admit`] admitted no one.
enum Admission {
    /// The reason the peer is told.
    Refused(String),
    /// This device's store failed.
    Failed(SharedError),
}

impl From<StoreError> for Admission {
    fn from(e: StoreError) -> Self {
        Admission::Failed(e.into())
    }
}

/// [`SharedAlliance::admit`]'s step, with the store lock held.
fn admit_on(
    o: &mut OpenAlliance,
    peer: &DeviceId,
    name: &str,
    secret: &[u8; 32],
    key: &DeviceKey,
    entropy: &mut dyn Entropy,
    now: Timestamp,
) -> Result<(), Admission> {
    let refused = Admission::Refused;
    if o.replica().member_of(peer).is_some() {
        return Err(refused(
            "this device is already a member; use `alliance sync`".into(),
        ));
    }
    // Check before using the invite up: a person's invite needs a name.
    let invite = o
        .invites()?
        .check(secret, now)
        .map_err(|e| refused(e.to_string()))?
        .clone();
    if invite.member.is_none() && name.trim().is_empty() {
        return Err(refused(
            "this ticket invites a new person: join with `alliance join TICKET --name YOUR_NAME`"
                .into(),
        ));
    }
    let invite = o.update_invites(|invites| {
        invites
            .redeem(secret, &peer.to_hex(), now)
            .map_err(|e| refused(e.to_string()))
    })?;
    let tag = o.actor_tag(entropy)?;
    let writer = Writer {
        key,
        actor_tag: tag,
        now,
    };
    let edited = match &invite.member {
        Some(member) => {
            let mine = o.replica().member_of(&key.device_id());
            if mine.as_ref().map(|m| m.as_str()) != Some(member.as_str()) {
                return Err(refused(
                    "this link ticket was made for a person this device no longer acts for; ask for a new one".into(),
                ));
            }
            o.replica_mut().link_device(&writer, peer)
        }
        None => o.replica_mut().add_person(
            &writer,
            entropy,
            name,
            &invite.role,
            Some(*peer),
            invite.reader,
        ),
    }
    .map_err(|e| refused(e.to_string()))?;
    if let Some(c) = &edited.change {
        o.persist(std::slice::from_ref(c))?;
    }
    Ok(())
}
