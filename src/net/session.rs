//! One connection between two devices: the handshake, then sync.
//!
//! ```text
//! dialer                                   listener
//!   Hello{alliance, join?, live, addrs} ->
//!                                         checks: holds the alliance; the dialer's key (proven
//!                                         by QUIC) is a member device, or the join request
//!                                         carries a valid invite (then adds the member)
//!                                   <-    Welcome{addrs}  |  Refused{reason} and close
//!   one-shot: Sync(msg)|Done  ->  <- Sync(msg)|Done  ... until both say Done in one exchange
//!   live:     a sync round, then Changes(new changes) pushed both ways as they are made, a
//!             sync round again when a push misses dependencies and once pushes settle
//! ```
//! No document data is sent before Welcome. Every received [`Frame::Sync`] goes through
//! [`PeerSync::receive`] and every [`Frame::Changes`] through
//! [`Replica::receive`](crate::core::Replica::receive) (verify, then apply, all or nothing)
//! before it touches the replica or the disk; a failure sends `Rejected` and closes the
//! connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::{Endpoint, EndpointAddr};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::timeout;

use crate::core::replica::Budget;
use crate::core::sync::{PeerSync, SyncError, SyncMessage};
use crate::core::{
    AllianceId, DeviceId, DeviceKey, Entropy, ReceiveError, Replica, SignedChange, Timestamp,
    Unverified, Verified, Writer,
};
use crate::core::{invite::Invites, peers::PeerBook};
use crate::net::NetError;
use crate::net::endpoint::device_of;
use crate::net::wire::{Frame, JoinRequest, WireError, read_frame, read_frame_within, write_frame};
use crate::protocol::{
    ALPN, CONNECT_TIMEOUT_SECS, FRAME_TIMEOUT_SECS, HANDSHAKE_TIMEOUT_SECS, MAX_BATCH_CHANGES,
    MAX_BATCH_SECS, MAX_FRAME_BYTES, MAX_HANDSHAKE_FRAME_BYTES, MAX_NAME_CHARS,
    PEER_QUARANTINE_SECS,
};
use crate::store::{LockMode, OpenAlliance};

/// Device-local file of invites (see [`Invites`]).
pub const INVITES_FILE: &str = "invites.json";
/// Device-local address book (see [`PeerBook`]).
pub const PEERS_FILE: &str = "peers.json";

/// What a handshake read is called in errors (and how [`read_timed`] knows its limit).
const HANDSHAKE: &str = "handshake";

/// Rounds after which a one-shot sync is considered stuck.
const MAX_ROUNDS: usize = 1000;

/// What one session did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionReport {
    pub peer: String,
    pub sent: usize,
    pub received: usize,
}

/// Where a session reads and writes the alliance.
pub trait SyncTarget: Send + Sync {
    fn generate(&self, peer: &mut PeerSync) -> Result<Option<SyncMessage>, NetError>;
    /// Verifies and applies; returns how many changes were new.
    fn receive(
        &self,
        peer: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<usize, NetError>;
    /// Verifies and applies changes a peer pushed during a live session. `Ok(false)` when some
    /// of their dependencies are missing here: nothing was applied, and a sync round will
    /// fetch what is missing.
    fn receive_pushed(
        &self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, NetError>;
    /// Quarantines a peer whose data made Automerge panic: its connections are refused and it
    /// is not dialled for [`PEER_QUARANTINE_SECS`].
    fn quarantine(&self, _peer: &DeviceId, _reason: &str) {}
}

/// The time budget of one received batch: out of time after [`MAX_BATCH_SECS`].
fn batch_clock() -> impl Fn() -> bool + Sync {
    let start = std::time::Instant::now();
    move || start.elapsed() >= Duration::from_secs(MAX_BATCH_SECS)
}

/// What a running device tells its live sessions when its replica changed.
#[derive(Debug, Clone)]
pub enum Fresh {
    /// Changes that entered the replica.
    Changes(Arc<FreshChanges>),
    /// The replica changed without a list of changes (a whole history arrived as one
    /// document): sessions run a sync round instead.
    Resync,
}

/// Changes that entered a replica: a local edit, another command's edit read from the store,
/// or changes received from the device `from` (which need not get them back).
#[derive(Debug)]
pub struct FreshChanges {
    pub from: Option<DeviceId>,
    pub changes: Vec<SignedChange<Verified>>,
}

/// How many [`Fresh`] notices a slow session may fall behind before it catches up with a
/// sync round instead.
const FRESH_BACKLOG: usize = 1024;

/// Changes per pushed frame (a large batch, say from a third device's catch-up, goes as several
/// frames, each far below the frame limit).
const PUSH_CHUNK: usize = 1000;

/// How long after the last pushed change a live session runs a sync round, which brings both
/// sides' sync states up to date (so a later reconnect costs about what is new) and repairs
/// anything a push missed.
const SETTLE_AFTER: Duration = Duration::from_millis(500);

/// An alliance in this device's store, shared by the sessions of a running device. The store
/// lock is taken for each step and released in between, so other `alliance` commands can write
/// while `serve` runs; their writes are picked up at the next step.
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

    /// Runs `f` on the alliance with its store lock held and fresh from disk. Changes that
    /// other commands wrote, and changes `f` persists, go out to the live sessions.
    pub fn with<T>(
        &self,
        mode: LockMode,
        f: impl FnOnce(&mut OpenAlliance) -> Result<T, NetError>,
    ) -> Result<T, NetError> {
        self.with_from(mode, None, f)
    }

    /// [`SharedAlliance::with`] for changes received from the device `from`.
    fn with_from<T>(
        &self,
        mode: LockMode,
        from: Option<DeviceId>,
        f: impl FnOnce(&mut OpenAlliance) -> Result<T, NetError>,
    ) -> Result<T, NetError> {
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
                Err(NetError::Internal(
                    "a step on the alliance failed unexpectedly".into(),
                ))
            }
        };
        if let Err(NetError::BadChanges { source, .. }) = &result
            && source.needs_reload()
        {
            // A batch failed halfway or made Automerge panic: what is in memory can no longer
            // be trusted. Everything persisted was verified; load that again.
            tracing::warn!(reason = %source, "reloading the alliance from the store");
            if let Err(e) = open.reload() {
                tracing::error!(error = %e, "cannot reload the alliance from the store");
            }
        }
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
    pub fn poll_disk(&self) -> Result<(), NetError> {
        let changed = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.changed_on_disk()
        };
        if changed {
            self.with(LockMode::Shared, |_| Ok(()))?;
        }
        Ok(())
    }

    pub fn is_member(&self, device: &DeviceId) -> Result<bool, NetError> {
        self.with(LockMode::Shared, |o| {
            Ok(o.replica().member_of(device).is_some())
        })
    }

    /// Member devices other than `me`.
    pub fn member_devices(&self, me: &DeviceId) -> Result<Vec<DeviceId>, NetError> {
        self.with(LockMode::Shared, |o| {
            Ok(o.replica()
                .view()
                .devices
                .iter()
                .filter_map(|d| d.key.parse::<DeviceId>().ok())
                .filter(|d| d != me)
                .collect())
        })
    }

    pub fn peer_book(&self) -> Result<PeerBook, NetError> {
        self.with(LockMode::Shared, |o| Ok(o.local_json(PEERS_FILE)?))
    }

    /// Updates the address book after contact with `peer` (or a failure).
    pub fn record_contact(
        &self,
        peer: &DeviceId,
        addrs: &[String],
        result: Result<(), &str>,
        now: Timestamp,
    ) -> Result<(), NetError> {
        self.with(LockMode::Exclusive, |o| {
            let mut book: PeerBook = o.local_json(PEERS_FILE)?;
            match result {
                Ok(()) => book.seen(&peer.to_hex(), addrs, None, now),
                Err(e) => book.failed(&peer.to_hex(), e),
            }
            Ok(o.save_local_json(PEERS_FILE, &book)?)
        })
    }

    /// The persisted sync state with `peer` (fresh if none).
    pub fn load_peer_sync_pub(&self, peer: &DeviceId) -> PeerSync {
        self.load_peer_sync(peer)
    }

    /// Persists the sync state with `peer`.
    pub fn save_peer_sync_pub(&self, peer: &DeviceId, sync: &PeerSync) {
        self.save_peer_sync(peer, sync)
    }

    fn load_peer_sync(&self, peer: &DeviceId) -> PeerSync {
        self.with(LockMode::Shared, |o| {
            Ok(o.sync_state(&peer.to_hex())?
                .map(|b| PeerSync::decode(&b))
                .unwrap_or_default())
        })
        .unwrap_or_default()
    }

    fn save_peer_sync(&self, peer: &DeviceId, sync: &PeerSync) {
        let bytes = sync.encode();
        let _ = self.with(LockMode::Exclusive, |o| {
            Ok(o.save_sync_state(&peer.to_hex(), &bytes)?)
        });
    }

    /// Admits a device that presents an invite: uses up the invite (persisted first, so it can
    /// never be used twice), then adds the person and their device with a change this device
    /// signs. Returns the refusal reason on failure; nothing is written then.
    pub fn admit(
        &self,
        peer: &DeviceId,
        request: &JoinRequest,
        key: &DeviceKey,
        entropy: &mut dyn Entropy,
        now: Timestamp,
    ) -> Result<(), String> {
        let name = request.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("the name must be 1 to {MAX_NAME_CHARS} characters"));
        }
        let result = self.with(LockMode::Exclusive, |o| {
            if o.replica().member_of(peer).is_some() {
                return Err(NetError::RefusedPeer {
                    peer: peer.short(),
                    reason: "this device is already a member; use `alliance sync`".into(),
                });
            }
            let mut invites: Invites = o.local_json(INVITES_FILE)?;
            let role = invites
                .redeem(&request.secret, &peer.to_hex(), now)
                .map_err(|e| NetError::RefusedPeer {
                    peer: peer.short(),
                    reason: e.to_string(),
                })?;
            o.save_local_json(INVITES_FILE, &invites)?;
            let tag = o.actor_tag(entropy)?;
            let writer = Writer {
                key,
                actor_tag: tag,
                now,
            };
            let edited = o
                .replica_mut()
                .add_member(&writer, entropy, &name, &role, Some(*peer))
                .map_err(|e| NetError::RefusedPeer {
                    peer: peer.short(),
                    reason: e.to_string(),
                })?;
            if let Some(c) = &edited.change {
                o.persist(std::slice::from_ref(c))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(NetError::RefusedPeer { reason, .. }) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl SyncTarget for SharedAlliance {
    fn generate(&self, peer: &mut PeerSync) -> Result<Option<SyncMessage>, NetError> {
        self.with(LockMode::Shared, |o| Ok(peer.generate(o.replica())))
    }

    fn receive(
        &self,
        peer: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<usize, NetError> {
        let (new, loaded) = self.with_from(LockMode::Exclusive, Some(*from), |o| {
            let clock = batch_clock();
            let applied = peer
                .receive_within(o.replica_mut(), msg, &Budget::until(&clock))
                .map_err(|source| NetError::BadChanges {
                    peer: from.short(),
                    source,
                })?;
            if applied.loaded > 0 {
                // A whole history arrived as one document: store it as the snapshot.
                o.compact()?;
            } else {
                o.persist(&applied.new)?;
            }
            Ok((applied.new.len(), applied.loaded))
        })?;
        if loaded > 0 {
            self.announce(Fresh::Resync);
        }
        Ok(new + loaded)
    }

    fn receive_pushed(
        &self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, NetError> {
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
                Err(e) => Err(NetError::BadChanges {
                    peer: from.short(),
                    source: e.into(),
                }),
            }
        })
    }

    fn quarantine(&self, peer: &DeviceId, reason: &str) {
        let now = crate::system::now();
        let result = self.with(LockMode::Exclusive, |o| {
            let mut book: PeerBook = o.local_json(PEERS_FILE)?;
            book.quarantine(&peer.to_hex(), reason, now, PEER_QUARANTINE_SECS);
            Ok(o.save_local_json(PEERS_FILE, &book)?)
        });
        if let Err(e) = result {
            tracing::error!(peer = %peer.short(), error = %e, "cannot record the quarantine");
        }
    }
}

/// A replica held in memory only: a joining device, until the join succeeds.
pub struct MemoryTarget(pub Mutex<Replica>);

impl MemoryTarget {
    pub fn new(id: AllianceId) -> Self {
        MemoryTarget(Mutex::new(Replica::empty(id)))
    }

    /// Everything received, verified, in causal order, for the store.
    pub fn changes(&self) -> Vec<SignedChange<Verified>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .changes_since(&[])
            .0
    }
}

impl SyncTarget for MemoryTarget {
    fn generate(&self, peer: &mut PeerSync) -> Result<Option<SyncMessage>, NetError> {
        Ok(peer.generate(&self.0.lock().unwrap_or_else(|p| p.into_inner())))
    }

    fn receive(
        &self,
        peer: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<usize, NetError> {
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let applied = peer
            .receive(&mut r, msg)
            .map_err(|source| NetError::BadChanges {
                peer: from.short(),
                source,
            })?;
        Ok(applied.new.len() + applied.loaded)
    }

    fn receive_pushed(
        &self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, NetError> {
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match r.receive(changes) {
            Ok(_) => Ok(true),
            Err(ReceiveError::MissingDependencies { .. }) => Ok(false),
            Err(e) => Err(NetError::BadChanges {
                peer: from.short(),
                source: e.into(),
            }),
        }
    }
}

fn wire_err(peer: &str, e: WireError) -> NetError {
    match e {
        WireError::Closed => NetError::Connection {
            peer: peer.to_string(),
            reason: "the peer closed the connection".into(),
        },
        WireError::Io(e) => NetError::Connection {
            peer: peer.to_string(),
            reason: e.to_string(),
        },
        e => NetError::Protocol {
            peer: peer.to_string(),
            reason: e.to_string(),
        },
    }
}

/// Reads one frame within `secs`. Handshake frames (`what == "handshake"`) may be at most
/// [`MAX_HANDSHAKE_FRAME_BYTES`]: a peer not yet known to be a member gets no bigger buffer.
async fn read_timed(
    recv: &mut RecvStream,
    peer: &str,
    secs: u64,
    what: &'static str,
) -> Result<Frame, NetError> {
    let max = if what == HANDSHAKE {
        MAX_HANDSHAKE_FRAME_BYTES
    } else {
        MAX_FRAME_BYTES
    };
    match timeout(Duration::from_secs(secs), read_frame_within(recv, max)).await {
        Ok(r) => r.map_err(|e| wire_err(peer, e)),
        Err(_) => Err(NetError::Timeout {
            peer: peer.to_string(),
            what,
        }),
    }
}

/// Writes a frame, giving up after [`FRAME_TIMEOUT_SECS`] (a peer that stops reading must not
/// hold a session, and the store lock it may wait for, forever).
async fn write(send: &mut SendStream, peer: &str, frame: &Frame) -> Result<(), NetError> {
    match timeout(
        Duration::from_secs(FRAME_TIMEOUT_SECS),
        write_frame(send, frame),
    )
    .await
    {
        Ok(r) => r.map_err(|e| wire_err(peer, e)),
        Err(_) => Err(NetError::Timeout {
            peer: peer.to_string(),
            what: "sending",
        }),
    }
}

/// Tells the peer why what it sent was refused, and closes the connection. A peer whose data
/// made Automerge panic is quarantined as well.
async fn reject(
    send: &mut SendStream,
    conn: &Connection,
    target: &dyn SyncTarget,
    peer: &DeviceId,
    e: &NetError,
) {
    tracing::warn!(peer = %peer.short(), error = %e, "rejected changes from peer; disconnecting");
    let reason = e.to_string();
    if e.is_hostile() {
        target.quarantine(peer, &reason);
    }
    last_frame(
        conn,
        send,
        &Frame::Rejected { reason },
        2,
        b"rejected changes",
    )
    .await;
}

/// Sends a last frame, gives it a moment to arrive (the peer closes when it reads it), then
/// closes the connection with `code`.
async fn last_frame(
    conn: &Connection,
    send: &mut SendStream,
    frame: &Frame,
    code: u32,
    why: &[u8],
) {
    let _ = write_frame(send, frame).await;
    let _ = send.finish();
    let _ = timeout(Duration::from_millis(200), conn.closed()).await;
    conn.close(code.into(), why);
}

/// Receives a sync message; on a verification failure tells the peer and closes.
async fn receive_or_reject(
    send: &mut SendStream,
    conn: &Connection,
    target: &dyn SyncTarget,
    sync: &mut PeerSync,
    msg: SyncMessage,
    peer: &DeviceId,
) -> Result<(), NetError> {
    match target.receive(sync, msg, peer) {
        Ok(_) => Ok(()),
        Err(e) => {
            reject(send, conn, target, peer, &e).await;
            Err(e)
        }
    }
}

/// Sync until both sides have nothing more to say. The dialer speaks first.
async fn one_shot(
    conn: &Connection,
    send: &mut SendStream,
    recv: &mut RecvStream,
    target: &dyn SyncTarget,
    sync: &mut PeerSync,
    dialer: bool,
    peer_id: &DeviceId,
) -> Result<(), NetError> {
    let peer = &peer_id.short();
    let protocol = |reason: &str| NetError::Protocol {
        peer: peer.to_string(),
        reason: reason.to_string(),
    };
    for _ in 0..MAX_ROUNDS {
        if dialer {
            let mine = target.generate(sync)?;
            let said_done = mine.is_none();
            write(send, peer, &mine.map(Frame::Sync).unwrap_or(Frame::Done)).await?;
            match read_timed(recv, peer, FRAME_TIMEOUT_SECS, "sync").await? {
                Frame::Sync(m) => receive_or_reject(send, conn, target, sync, m, peer_id).await?,
                Frame::Done if said_done => return Ok(()),
                Frame::Done => {}
                Frame::Rejected { reason } => {
                    return Err(NetError::PeerRejected {
                        peer: peer.to_string(),
                        reason,
                    });
                }
                _ => return Err(protocol("unexpected frame during sync")),
            }
        } else {
            let got_done = match read_timed(recv, peer, FRAME_TIMEOUT_SECS, "sync").await? {
                Frame::Sync(m) => {
                    receive_or_reject(send, conn, target, sync, m, peer_id).await?;
                    false
                }
                Frame::Done => true,
                Frame::Rejected { reason } => {
                    return Err(NetError::PeerRejected {
                        peer: peer.to_string(),
                        reason,
                    });
                }
                _ => return Err(protocol("unexpected frame during sync")),
            };
            let mine = target.generate(sync)?;
            let done = mine.is_none();
            write(send, peer, &mine.map(Frame::Sync).unwrap_or(Frame::Done)).await?;
            if got_done && done {
                return Ok(());
            }
        }
    }
    Err(protocol("sync did not settle"))
}

/// The frame that pushes `changes` to a peer.
fn push_frame(changes: &[SignedChange<Verified>]) -> Frame {
    Frame::Changes {
        changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
        signatures: changes
            .iter()
            .map(|c| c.signature().to_bytes().to_vec())
            .collect(),
    }
}

/// Parses pushed changes; nothing is trusted yet.
fn parse_pushed(
    changes: Vec<Vec<u8>>,
    signatures: Vec<Vec<u8>>,
    peer: &DeviceId,
) -> Result<Vec<SignedChange<Unverified>>, NetError> {
    let bad = |source: SyncError| NetError::BadChanges {
        peer: peer.short(),
        source,
    };
    if changes.len() != signatures.len() {
        return Err(bad(SyncError::SignatureCount {
            changes: changes.len(),
            signatures: signatures.len(),
        }));
    }
    if changes.len() > MAX_BATCH_CHANGES {
        return Err(bad(ReceiveError::TooMany(changes.len()).into()));
    }
    changes
        .into_iter()
        .zip(&signatures)
        .map(|(bytes, sig)| {
            SignedChange::from_bytes(bytes, sig).map_err(|e| bad(ReceiveError::Change(e).into()))
        })
        .collect()
}

/// Stay connected until the connection closes. Every change that enters this device's replica
/// (a local edit, another command's, or one received from a third device) is pushed to the
/// peer as it comes, and pushed changes from the peer are verified and applied as they come:
/// no sync-protocol round per edit, whose cost grows with the history. Sync rounds still run
/// when the session starts, when a push finds dependencies missing, when this session fell
/// behind, and once the pushes settle (so both sync states stay current).
async fn live(
    conn: &Connection,
    mut send: SendStream,
    mut recv: RecvStream,
    target: &dyn SyncTarget,
    sync: &mut PeerSync,
    mut fresh: Option<broadcast::Receiver<Fresh>>,
    peer_id: &DeviceId,
) -> Result<(), NetError> {
    let peer = &peer_id.short();
    let (tx, mut rx) = mpsc::channel::<Result<Frame, WireError>>(16);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_frame(&mut recv).await;
            let end = r.is_err();
            if tx.send(r).await.is_err() || end {
                break;
            }
        }
    });
    let result = async {
        let mut round = true;
        let mut settle: Option<tokio::time::Instant> = None;
        loop {
            if std::mem::take(&mut round)
                && let Some(m) = target.generate(sync)?
            {
                write(&mut send, peer, &Frame::Sync(m)).await?;
            }
            let settle_at = settle.unwrap_or_else(|| tokio::time::Instant::now() + SETTLE_AFTER);
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(Ok(Frame::Sync(m))) => {
                        receive_or_reject(&mut send, conn, target, sync, m, peer_id).await?;
                        round = true;
                    }
                    Some(Ok(Frame::Changes { changes, signatures })) => {
                        let count = changes.len();
                        let applied = match parse_pushed(changes, signatures, peer_id)
                            .and_then(|batch| target.receive_pushed(batch, peer_id))
                        {
                            Ok(applied) => applied,
                            Err(e) => {
                                reject(&mut send, conn, target, peer_id, &e).await;
                                return Err(e);
                            }
                        };
                        if applied {
                            sync.received += count;
                            settle = Some(tokio::time::Instant::now() + SETTLE_AFTER);
                        } else {
                            // Missing dependencies. The sync state may believe the peer has
                            // nothing for us (pushes do not update it), so start it afresh:
                            // the round then asks for everything this device lacks.
                            *sync = PeerSync::new();
                            round = true;
                        }
                    }
                    Some(Ok(Frame::Done)) => {}
                    Some(Ok(Frame::Rejected { reason })) => {
                        return Err(NetError::PeerRejected { peer: peer.to_string(), reason });
                    }
                    Some(Ok(_)) => {
                        return Err(NetError::Protocol {
                            peer: peer.to_string(),
                            reason: "unexpected frame".into(),
                        });
                    }
                    Some(Err(WireError::Closed)) | None => return Ok(()),
                    Some(Err(e)) => return Err(wire_err(peer, e)),
                },
                notice = async { fresh.as_mut().expect("guarded").recv().await }, if fresh.is_some() => {
                    match notice {
                        Ok(Fresh::Changes(fresh)) if fresh.from != Some(*peer_id) => {
                            for part in fresh.changes.chunks(PUSH_CHUNK) {
                                write(&mut send, peer, &push_frame(part)).await?;
                            }
                            sync.sent += fresh.changes.len();
                            settle = Some(tokio::time::Instant::now() + SETTLE_AFTER);
                        }
                        Ok(Fresh::Changes(_)) => {}
                        Ok(Fresh::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            round = true;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    }
                }
                _ = tokio::time::sleep_until(settle_at), if settle.is_some() => {
                    settle = None;
                    round = true;
                }
            }
        }
    }
    .await;
    reader.abort();
    result
}

/// Options for dialing.
pub struct Dial<'a> {
    pub alliance: AllianceId,
    pub join: Option<JoinRequest>,
    pub live: bool,
    /// Our own direct addresses, for the peer's address book.
    pub my_addrs: Vec<String>,
    pub target: &'a dyn SyncTarget,
    /// Persisted sync state with this peer, if any; updated in place.
    pub sync: &'a mut PeerSync,
    /// For live sessions: the changes to push as they enter this device's replica
    /// ([`SharedAlliance::fresh`]).
    pub fresh: Option<broadcast::Receiver<Fresh>>,
}

/// Dials `addr`, runs the handshake and syncs. Returns the report and the peer's addresses.
pub async fn dial(
    endpoint: &Endpoint,
    addr: EndpointAddr,
    opts: Dial<'_>,
) -> Result<(SessionReport, Vec<String>), NetError> {
    let peer_id = device_of(&addr.id);
    let peer = peer_id.short();
    let conn = match timeout(
        Duration::from_secs(CONNECT_TIMEOUT_SECS),
        endpoint.connect(addr, ALPN),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(NetError::Unreachable {
                peer,
                reason: e.to_string(),
            });
        }
        Err(_) => {
            return Err(NetError::Unreachable {
                peer,
                reason: format!("no answer within {CONNECT_TIMEOUT_SECS}s"),
            });
        }
    };
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| NetError::Connection {
        peer: peer.clone(),
        reason: e.to_string(),
    })?;
    write(
        &mut send,
        &peer,
        &Frame::Hello {
            alliance: opts.alliance.0.0,
            join: opts.join,
            live: opts.live,
            addrs: opts.my_addrs,
        },
    )
    .await?;
    let their_addrs = match read_timed(&mut recv, &peer, HANDSHAKE_TIMEOUT_SECS, HANDSHAKE).await? {
        Frame::Welcome { addrs } => addrs,
        Frame::Refused { reason } => return Err(NetError::Refused { peer, reason }),
        _ => {
            return Err(NetError::Protocol {
                peer,
                reason: "expected Welcome".into(),
            });
        }
    };
    let before = (opts.sync.sent, opts.sync.received);
    if opts.live {
        live(
            &conn,
            send,
            recv,
            opts.target,
            opts.sync,
            opts.fresh,
            &peer_id,
        )
        .await?;
    } else {
        one_shot(
            &conn,
            &mut send,
            &mut recv,
            opts.target,
            opts.sync,
            true,
            &peer_id,
        )
        .await?;
        let _ = send.finish();
        conn.close(0u32.into(), b"done");
    }
    Ok((
        SessionReport {
            peer: peer_id.to_hex(),
            sent: opts.sync.sent - before.0,
            received: opts.sync.received - before.1,
        },
        their_addrs,
    ))
}

/// What a listening device needs to answer connections.
pub struct Listener {
    pub key: DeviceKey,
    /// Whether the endpoint can find peers without a known address (mDNS or relays).
    pub lookup: bool,
    pub alliances: Vec<Arc<SharedAlliance>>,
    pub my_addrs: Vec<String>,
    pub entropy: Mutex<Box<dyn Entropy + Send>>,
    pub now: fn() -> Timestamp,
}

impl Listener {
    fn alliance(&self, id: &AllianceId) -> Option<Arc<SharedAlliance>> {
        self.alliances.iter().find(|a| a.id == *id).cloned()
    }

    /// Whether `device` is a member device of an alliance this device serves.
    pub fn knows(&self, device: &DeviceId) -> bool {
        self.alliances
            .iter()
            .any(|a| a.is_member(device).unwrap_or(false))
    }
}

async fn refuse(
    conn: &Connection,
    send: &mut SendStream,
    peer: &DeviceId,
    reason: String,
) -> NetError {
    tracing::info!(peer = %peer.short(), %reason, "refused connection");
    let frame = Frame::Refused {
        reason: reason.clone(),
    };
    last_frame(conn, send, &frame, 1, b"refused").await;
    NetError::RefusedPeer {
        peer: peer.short(),
        reason,
    }
}

/// Answers one incoming connection: handshake, then sync (one-shot or live, as the dialer asked).
pub async fn accept(conn: Connection, listener: Arc<Listener>) -> Result<SessionReport, NetError> {
    let peer_id = device_of(&conn.remote_id());
    let peer = peer_id.short();
    let (mut send, mut recv) = match timeout(
        Duration::from_secs(HANDSHAKE_TIMEOUT_SECS),
        conn.accept_bi(),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(NetError::Connection {
                peer,
                reason: e.to_string(),
            });
        }
        Err(_) => {
            conn.close(1u32.into(), b"handshake timeout");
            return Err(NetError::Timeout {
                peer,
                what: "handshake",
            });
        }
    };
    let hello = match read_timed(&mut recv, &peer, HANDSHAKE_TIMEOUT_SECS, HANDSHAKE).await {
        Ok(f) => f,
        Err(e) => {
            conn.close(1u32.into(), b"bad handshake");
            return Err(e);
        }
    };
    let Frame::Hello {
        alliance,
        join,
        live: live_mode,
        addrs,
    } = hello
    else {
        return Err(refuse(&conn, &mut send, &peer_id, "expected Hello".into()).await);
    };
    let id = AllianceId(automerge::ChangeHash(alliance));
    let Some(shared) = listener.alliance(&id) else {
        return Err(refuse(
            &conn,
            &mut send,
            &peer_id,
            "this device does not hold that alliance (or does not serve it)".into(),
        )
        .await);
    };
    let now = (listener.now)();
    if let Some(q) = shared.peer_book()?.quarantined(&peer_id.to_hex(), now) {
        return Err(refuse(
            &conn,
            &mut send,
            &peer_id,
            format!(
                "device {} is quarantined until {}: {}",
                peer_id.short(),
                Timestamp(q.until).to_rfc3339(),
                q.reason
            ),
        )
        .await);
    }
    match &join {
        Some(request) => {
            let admitted = {
                let mut entropy = listener.entropy.lock().unwrap_or_else(|p| p.into_inner());
                shared.admit(&peer_id, request, &listener.key, entropy.as_mut(), now)
            };
            if let Err(reason) = admitted {
                return Err(refuse(&conn, &mut send, &peer_id, reason).await);
            }
        }
        None => {
            if !shared.is_member(&peer_id)? {
                return Err(refuse(
                    &conn,
                    &mut send,
                    &peer_id,
                    format!(
                        "device {} is not a member of this alliance; ask a member for an invite",
                        peer_id.short()
                    ),
                )
                .await);
            }
        }
    }
    let _ = shared.record_contact(&peer_id, &addrs, Ok(()), now);
    write(
        &mut send,
        &peer,
        &Frame::Welcome {
            addrs: listener.my_addrs.clone(),
        },
    )
    .await?;
    let mut sync = if join.is_some() {
        PeerSync::new()
    } else {
        shared.load_peer_sync(&peer_id)
    };
    let result = if live_mode {
        live(
            &conn,
            send,
            recv,
            shared.as_ref(),
            &mut sync,
            Some(shared.fresh()),
            &peer_id,
        )
        .await
    } else {
        let r = one_shot(
            &conn,
            &mut send,
            &mut recv,
            shared.as_ref(),
            &mut sync,
            false,
            &peer_id,
        )
        .await;
        let _ = send.finish();
        let _ = timeout(Duration::from_secs(2), conn.closed()).await;
        r
    };
    shared.save_peer_sync(&peer_id, &sync);
    if let Err(e) = &result {
        let _ = shared.record_contact(&peer_id, &[], Err(&e.to_string()), now);
    }
    result.map(|()| SessionReport {
        peer: peer_id.to_hex(),
        sent: sync.sent,
        received: sync.received,
    })
}
