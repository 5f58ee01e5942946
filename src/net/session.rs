//! The tokio driver of one connection: the handshake's reads and writes, then a
//! [`proto::Session`](crate::proto::session::Session) fed with the frames that arrive, the
//! fresh changes of this device and its timer, and its actions carried out.
//!
//! The protocol itself (who is welcome, what is sent when, what is refused) is
//! [`crate::proto`]'s, without I/O; here are only streams, timeouts and `select!`. See
//! `docs/protocol.md` for the frames and what is verified where.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::{Endpoint, EndpointAddr};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

use crate::constants::{
    ALPN, CONNECT_TIMEOUT_SECS, FRAME_TIMEOUT_SECS, HANDSHAKE_TIMEOUT_SECS, MAX_FRAME_BYTES,
    MAX_HANDSHAKE_FRAME_BYTES,
};
use crate::core::sync::PeerSync;
use crate::core::{AllianceId, DeviceId, DeviceKey, Entropy, Timestamp};
use crate::net::NetError;
use crate::net::endpoint::device_of;
use crate::net::wire::{
    Frame, JoinRequest, WireError, read_frame_observed, read_frame_within, write_frame,
};
use crate::proto::frame::CloseCode;
use crate::proto::handshake::{self, Answer, Decision, Hello, Standing};
use crate::proto::session::Fresh;
use crate::proto::session::{Action, Event, Mode, Session, SessionError, Side, Target};
use crate::store::shared::SharedAlliance;

/// What happens to a running device's connections, in terms a person cares about.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// A member device connected (either direction); `joined`: it was admitted by an invite.
    Connected {
        alliance: AllianceId,
        device: DeviceId,
        joined: bool,
    },
    /// A session with a member device ended (`error` says why, when it failed).
    Ended {
        alliance: AllianceId,
        device: DeviceId,
        error: Option<String>,
    },
    /// Changes from a device were verified and kept (a push or a sync message).
    Received {
        alliance: AllianceId,
        device: DeviceId,
        changes: usize,
    },
    /// A keeper took an alliance an admin's device handed over.
    HandedOver {
        alliance: AllianceId,
        device: DeviceId,
    },
    /// A connection was refused at the handshake (a stranger, a removed device, a bad
    /// invite), with the reason it was told.
    Refused { device: DeviceId, reason: String },
}

/// How a sync with one peer is going, as data for a progress display (`alliance join` and
/// `sync` draw it on a terminal): what arrives, what is being verified, what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProgress {
    /// A large frame (a whole alliance, a big batch) is arriving: `bytes` of `of` so far.
    Arriving { bytes: usize, of: usize },
    /// `checking` changes arrived and are being verified; `received` before them.
    Checking { received: usize, checking: usize },
    /// Changes received from the peer, verified and applied so far.
    Received { received: usize },
}

/// Where a session reports its progress: called with the peer and each step, from the tasks
/// that run the session (so it must be cheap; a display rate-limits itself).
pub type OnProgress = Arc<dyn Fn(DeviceId, SyncProgress) + Send + Sync>;

/// A progress report that also tells `events` what arrived from `device` (as
/// [`NodeEvent::Received`]), then passes every step on to `also` (a display), if any.
pub fn telling(
    events: broadcast::Sender<NodeEvent>,
    alliance: AllianceId,
    also: Option<OnProgress>,
) -> OnProgress {
    let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move |device: DeviceId, step: SyncProgress| {
        if let SyncProgress::Received { received } = step {
            let before = told.swap(received, std::sync::atomic::Ordering::Relaxed);
            if received > before {
                let _ = events.send(NodeEvent::Received {
                    alliance,
                    device,
                    changes: received - before,
                });
            }
        }
        if let Some(also) = &also {
            also(device, step);
        }
    })
}

/// How many [`NodeEvent`]s a slow watcher may fall behind.
pub const EVENT_BACKLOG: usize = 256;

/// What one session did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionReport {
    pub peer: String,
    pub sent: usize,
    pub received: usize,
}

/// Options for dialing.
pub struct Dial<'a, T> {
    pub alliance: AllianceId,
    pub join: Option<JoinRequest>,
    /// Handing the alliance to a keeper: the secret of its ticket.
    pub hand_over: Option<[u8; 32]>,
    pub live: bool,
    /// Our own direct addresses, for the peer's address book.
    pub my_addrs: Vec<String>,
    pub target: &'a mut T,
    /// Persisted sync state with this peer, if any; updated in place.
    pub sync: &'a mut PeerSync,
    /// For live sessions: the changes to push as they enter this device's replica
    /// ([`SharedAlliance::fresh`]).
    pub fresh: Option<broadcast::Receiver<Fresh>>,
    /// Where to say that the peer welcomed us, if anyone watches.
    pub events: Option<broadcast::Sender<NodeEvent>>,
    /// Where to report how the sync is going, if anyone shows it.
    pub progress: Option<OnProgress>,
}

/// Dials `addr`, runs the handshake and syncs. Returns the report and the peer's addresses.
pub async fn dial<T: Target>(
    endpoint: &Endpoint,
    addr: EndpointAddr,
    opts: Dial<'_, T>,
) -> Result<(SessionReport, Vec<String>), NetError>
where
    T::Error: Into<NetError>,
{
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
    let mode = if opts.live { Mode::Live } else { Mode::OneShot };
    let hello = Hello {
        alliance: opts.alliance,
        join: opts.join,
        mode,
        addrs: opts.my_addrs,
        hand_over: opts.hand_over,
    };
    write(&mut send, &peer, &hello.frame()).await?;
    let their_addrs = match handshake::answer(read_handshake(&mut recv, &peer).await?) {
        Answer::Welcome(addrs) => addrs,
        Answer::Refused(reason) => return Err(NetError::Refused { peer, reason }),
        Answer::Unexpected => {
            return Err(NetError::Protocol {
                peer,
                reason: "expected Welcome".into(),
            });
        }
    };
    if let Some(events) = &opts.events {
        let _ = events.send(NodeEvent::Connected {
            alliance: opts.alliance,
            device: peer_id,
            joined: false,
        });
    }
    let mut session = Session::new(peer_id, Side::Dialer, mode, std::mem::take(opts.sync));
    let result = drive(
        &conn,
        send,
        recv,
        &mut session,
        opts.target,
        opts.fresh,
        None,
        opts.progress,
    )
    .await;
    let report = session.report();
    *opts.sync = session.into_sync();
    result?;
    Ok((
        SessionReport {
            peer: peer_id.to_hex(),
            sent: report.sent,
            received: report.received,
        },
        their_addrs,
    ))
}

/// Opens an alliance of this device's store by its ID, if the device holds it (and serves it):
/// how a running node finds an alliance created or joined after it started, the moment a peer
/// asks for it.
pub type Finder = Box<dyn Fn(&AllianceId) -> Option<Arc<SharedAlliance>> + Send + Sync>;

/// What a device that runs as a keeper adds to its listener: the secret of its ticket, and
/// where an alliance handed over to it goes.
pub struct Keeping {
    pub secret: [u8; 32],
    /// Stores an alliance handed over (whole, verified, naming this keeper), given with the
    /// device that handed it and that device's addresses, and serves it from now on.
    pub adopt: Adopter,
    /// Whether a device syncs with an alliance this keeper holds, loaded or not (so that
    /// members never wait among strangers for a connection slot).
    pub knows: Box<dyn Fn(&DeviceId) -> bool + Send + Sync>,
}

/// See [`Keeping::adopt`]: the refusal reason on failure.
pub type Adopter = Box<
    dyn Fn(crate::core::Replica, &DeviceId, &[String]) -> Result<Arc<SharedAlliance>, String>
        + Send
        + Sync,
>;

/// What a listening device needs to answer connections.
pub struct Listener {
    /// What happens to this device's connections, for a person watching (`serve`).
    pub events: broadcast::Sender<NodeEvent>,
    pub key: DeviceKey,
    /// Whether the endpoint can find peers without a known address (mDNS or relays).
    pub lookup: bool,
    /// The alliances this device serves: the one [`SharedAlliance`] of each, shared by the
    /// sessions, the page and `serve`.
    alliances: std::sync::RwLock<Vec<Arc<SharedAlliance>>>,
    /// Where an alliance not served yet is looked for (see [`Finder`]).
    finder: std::sync::OnceLock<Finder>,
    /// Set when this device runs as a keeper.
    keeping: std::sync::OnceLock<Keeping>,
    pub my_addrs: Vec<String>,
    pub entropy: Mutex<Box<dyn Entropy + Send>>,
    pub now: fn() -> Timestamp,
}

impl Listener {
    pub fn new(
        key: DeviceKey,
        alliances: Vec<Arc<SharedAlliance>>,
        lookup: bool,
        my_addrs: Vec<String>,
        entropy: Box<dyn Entropy + Send>,
        now: fn() -> Timestamp,
    ) -> Listener {
        Listener {
            events: broadcast::channel(EVENT_BACKLOG).0,
            key,
            lookup,
            alliances: std::sync::RwLock::new(alliances),
            finder: std::sync::OnceLock::new(),
            keeping: std::sync::OnceLock::new(),
            my_addrs,
            entropy: Mutex::new(entropy),
            now,
        }
    }

    /// Where an alliance not served yet is looked for from now on (the first finder stays).
    pub fn find_with(&self, finder: Finder) {
        let _ = self.finder.set(finder);
    }

    /// Runs this device as a keeper from now on (the first setting stays).
    pub fn keep_with(&self, keeping: Keeping) {
        let _ = self.keeping.set(keeping);
    }

    /// Stops serving alliance `id` if nothing uses it (no session, no task): an idle keeper
    /// drops what it holds in memory (its files stay). Returns whether it was dropped.
    pub fn release_if_idle(&self, id: &AllianceId) -> bool {
        let mut list = self.alliances.write().unwrap_or_else(|p| p.into_inner());
        let idle = list
            .iter()
            .position(|a| a.id == *id && Arc::strong_count(a) == 1);
        match idle {
            Some(i) => {
                list.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Serves an alliance from now on (one handed over to this keeper).
    pub fn add(&self, shared: Arc<SharedAlliance>) {
        let mut list = self.alliances.write().unwrap_or_else(|p| p.into_inner());
        if !list.iter().any(|a| a.id == shared.id) {
            list.push(shared);
        }
    }

    /// The alliances served now.
    pub fn alliances(&self) -> Vec<Arc<SharedAlliance>> {
        self.alliances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The alliance `id` if it is served; else, if the [`Finder`] finds it in this device's
    /// store, it is served from now on (one [`SharedAlliance`] per alliance, whoever asks).
    pub fn alliance(&self, id: &AllianceId) -> Option<Arc<SharedAlliance>> {
        if let Some(a) = self.alliances().into_iter().find(|a| a.id == *id) {
            return Some(a);
        }
        let found = (self.finder.get()?)(id)?;
        let mut list = self.alliances.write().unwrap_or_else(|p| p.into_inner());
        // Another task may have found it meanwhile: keep the first.
        if let Some(a) = list.iter().find(|a| a.id == *id) {
            return Some(a.clone());
        }
        tracing::info!(alliance = %id, "serving an alliance created or joined since this device started");
        list.push(found.clone());
        Some(found)
    }

    /// Whether `device` is a member device of an alliance this device serves.
    pub fn knows(&self, device: &DeviceId) -> bool {
        self.keeping.get().is_some_and(|k| (k.knows)(device))
            || self
                .alliances()
                .iter()
                .any(|a| a.is_peer(device).unwrap_or(false))
    }
}

/// Refuses the handshake: the reason, then the close.
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
    last_frame(
        conn,
        send,
        Some(&frame),
        CloseCode::Refused,
        crate::proto::session::LINGER_REJECTED,
    )
    .await;
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
            close(&conn, CloseCode::Refused);
            return Err(NetError::Timeout {
                peer,
                what: "handshake",
            });
        }
    };
    let hello = match read_handshake(&mut recv, &peer).await {
        Ok(f) => f,
        Err(e) => {
            close(&conn, CloseCode::Refused);
            return Err(e);
        }
    };
    let hello = match Hello::read(hello) {
        Ok(h) => h,
        Err(reason) => return Err(refuse(&conn, &mut send, &peer_id, reason).await),
    };
    let now = (listener.now)();
    let shared = listener.alliance(&hello.alliance);
    let decision = match &shared {
        None => handshake::decide(
            &peer_id,
            &hello,
            None,
            listener.keeping.get().map(|k| &k.secret),
        ),
        Some(shared) => {
            let book = shared.peer_book()?;
            let standing = Standing {
                member: shared.is_peer(&peer_id)?,
                removed: shared.is_removed(&peer_id)?,
                quarantine: book.quarantined(&peer_id.to_hex(), now),
            };
            handshake::decide(&peer_id, &hello, Some(standing), None)
        }
    };
    let shared = match (decision, shared) {
        (Decision::Refuse(reason), _) => {
            return Err(refuse(&conn, &mut send, &peer_id, reason).await);
        }
        (Decision::Adopt, None) => {
            return adopt(conn, send, recv, &listener, &peer_id, &hello).await;
        }
        (_, None) => {
            // `decide` refuses a hello for an alliance this device does not serve.
            let reason = handshake::NOT_SERVED.to_string();
            return Err(refuse(&conn, &mut send, &peer_id, reason).await);
        }
        (Decision::Admit { name }, Some(shared)) => {
            let request = hello.join.as_ref().map(|j| &j.secret);
            let admitted = match request {
                Some(secret) => {
                    let mut entropy = listener.entropy.lock().unwrap_or_else(|p| p.into_inner());
                    shared.admit(
                        &peer_id,
                        &name,
                        secret,
                        &listener.key,
                        entropy.as_mut(),
                        now,
                    )
                }
                None => Err("expected a join request".to_string()),
            };
            if let Err(reason) = admitted {
                return Err(refuse(&conn, &mut send, &peer_id, reason).await);
            }
            shared
        }
        // Held already: an ordinary sync (`decide` welcomes the admin's device).
        (Decision::Welcome | Decision::Adopt, Some(shared)) => shared,
    };
    let _ = shared.record_contact(&peer_id, &hello.addrs, Ok(()), now);
    let _ = listener.events.send(NodeEvent::Connected {
        alliance: shared.id,
        device: peer_id,
        joined: hello.join.is_some(),
    });
    welcome(&mut send, &peer, &listener).await?;
    let sync = if hello.join.is_some() {
        PeerSync::new()
    } else {
        shared.load_peer_sync(&peer_id)
    };
    let mut session = Session::new(peer_id, Side::Listener, hello.mode, sync);
    let fresh = (hello.mode == Mode::Live).then(|| shared.fresh());
    let result = drive(
        &conn,
        send,
        recv,
        &mut session,
        &mut shared.as_ref(),
        fresh,
        Some(shared.as_ref()),
        Some(telling(listener.events.clone(), shared.id, None)),
    )
    .await;
    let report = session.report();
    shared.save_peer_sync(&peer_id, session.sync());
    if let Err(e) = &result {
        let _ = shared.record_contact(&peer_id, &[], Err(&e.to_string()), now);
    }
    let _ = listener.events.send(NodeEvent::Ended {
        alliance: shared.id,
        device: peer_id,
        error: result.as_ref().err().map(|e| e.to_string()),
    });
    result.map(|()| SessionReport {
        peer: peer_id.to_hex(),
        sent: report.sent,
        received: report.received,
    })
}

/// Welcomes the dialer, with this device's addresses.
async fn welcome(send: &mut SendStream, peer: &str, listener: &Listener) -> Result<(), NetError> {
    write(
        send,
        peer,
        &Frame::Welcome {
            addrs: listener.my_addrs.clone(),
        },
    )
    .await
}

/// A keeper receives an alliance handed over by `peer` (the hello carried the keeper's
/// secret): welcomed, then a one-shot sync into an empty replica, where every change is
/// verified as in any sync (signatures, membership, the rules). The alliance is kept only if
/// it names this device as a keeper, not removed.
async fn adopt(
    conn: Connection,
    mut send: SendStream,
    recv: RecvStream,
    listener: &Listener,
    peer_id: &DeviceId,
    hello: &Hello,
) -> Result<SessionReport, NetError> {
    let Some(keeping) = listener.keeping.get() else {
        let reason = handshake::NOT_A_KEEPER.to_string();
        return Err(refuse(&conn, &mut send, peer_id, reason).await);
    };
    let peer = peer_id.short();
    welcome(&mut send, &peer, listener).await?;
    let mut replica = crate::core::Replica::empty(hello.alliance);
    let mut session = Session::new(*peer_id, Side::Listener, Mode::OneShot, PeerSync::new());
    drive(
        &conn,
        send,
        recv,
        &mut session,
        &mut replica,
        None,
        None,
        None,
    )
    .await?;
    let me = listener.key.device_id();
    if !replica.is_keeper(&me) {
        tracing::info!(peer = %peer, "refused an alliance handed over that does not name this keeper");
        return Err(NetError::RefusedPeer {
            peer,
            reason: "the alliance handed over does not name this device as its keeper".into(),
        });
    }
    let shared = (keeping.adopt)(replica, peer_id, &hello.addrs).map_err(|reason| {
        NetError::RefusedPeer {
            peer: peer.clone(),
            reason,
        }
    })?;
    shared.save_peer_sync(peer_id, session.sync());
    listener.add(shared.clone());
    let _ = listener.events.send(NodeEvent::HandedOver {
        alliance: shared.id,
        device: *peer_id,
    });
    let report = session.report();
    Ok(SessionReport {
        peer: peer_id.to_hex(),
        sent: report.sent,
        received: report.received,
    })
}

/// Runs `session` until it finishes: frames from the peer, this device's fresh changes and
/// the session's timer go in as events, and its actions are carried out. `quarantine` is
/// where a hostile peer is recorded; `progress`, where to say how far it has got.
#[allow(clippy::too_many_arguments)]
async fn drive<T: Target>(
    conn: &Connection,
    mut send: SendStream,
    mut recv: RecvStream,
    session: &mut Session,
    target: &mut T,
    mut fresh: Option<broadcast::Receiver<Fresh>>,
    quarantine: Option<&SharedAlliance>,
    progress: Option<OnProgress>,
) -> Result<(), NetError>
where
    T::Error: Into<NetError>,
{
    let peer = session.peer().short();
    let peer_id = *session.peer();
    let report = move |p: SyncProgress| {
        if let Some(progress) = &progress {
            progress(peer_id, p);
        }
    };
    // Reads happen in their own task: a read cut off by `select!` would lose a partial frame.
    let (tx, mut rx) = mpsc::channel::<Result<Frame, WireError>>(16);
    let on_bytes = report.clone();
    let reader = tokio::spawn(async move {
        let mut arrived = |bytes, of| on_bytes(SyncProgress::Arriving { bytes, of });
        loop {
            let r = read_frame_observed(&mut recv, MAX_FRAME_BYTES, &mut arrived).await;
            let end = r.is_err();
            if tx.send(r).await.is_err() || end {
                break;
            }
        }
    });
    let mut timer: Option<tokio::time::Instant> = None;
    let mut actions = off_runtime(|| session.start(target, Instant::now()));
    let result = loop {
        let mut finished = None;
        let mut broken = None;
        for action in actions.drain(..) {
            match action {
                // After a failed write nothing more is sent, but the session still closes.
                Action::Send(_) if broken.is_some() => {}
                Action::Send(frame) => {
                    if let Err(e) = write(&mut send, &peer, &frame).await {
                        broken = Some(e);
                    }
                }
                Action::ScheduleTimer(at) => timer = at.map(tokio::time::Instant::from_std),
                Action::Quarantine { reason } => {
                    if let Some(shared) = quarantine {
                        shared.quarantine(session.peer(), &reason, crate::system::now());
                    }
                }
                Action::Close { code, linger } => {
                    last_frame(conn, &mut send, None, code, linger).await;
                }
                Action::Progress(p) => report(SyncProgress::Received {
                    received: p.received,
                }),
                Action::Finished(r) => {
                    finished = Some(r.map(|_| ()).map_err(|e| session_error(&peer, e)));
                }
            }
        }
        let finished = finished.or(broken.map(Err));
        if let Some(r) = finished {
            break r;
        }
        let event = tokio::select! {
            frame = rx.recv() => match frame {
                Some(Ok(frame)) => {
                    if let Some(p) = session.arriving(&frame) {
                        report(SyncProgress::Checking { received: p.received, checking: p.checking });
                    }
                    Event::Frame(frame)
                }
                Some(Err(WireError::Closed)) | None => Event::Closed,
                Some(Err(e)) => break Err(wire_err(&peer, e)),
            },
            notice = async { fresh.as_mut().expect("guarded").recv().await }, if fresh.is_some() => {
                match notice {
                    Ok(Fresh::Changes(changes)) => Event::Fresh(changes),
                    Ok(Fresh::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => Event::Resync,
                    Err(broadcast::error::RecvError::Closed) => Event::Stop,
                }
            }
            _ = async { tokio::time::sleep_until(timer.expect("guarded")).await }, if timer.is_some() => {
                timer = None;
                Event::Timer
            }
        };
        actions = off_runtime(|| session.handle(event, target, Instant::now()));
    };
    reader.abort();
    result
}

/// Runs one step of a session off the async workers: a step may verify, apply and fsync a
/// received batch (up to [`MAX_BATCH_SECS`](crate::constants::MAX_BATCH_SECS)). On a
/// multi-threaded runtime the worker hands its other tasks to another worker and runs the step
/// as a blocking thread (`block_in_place`), so the page and other sessions go on; a
/// current-thread runtime (some tests) has no other worker and runs it in place. The step
/// holds the store lock only inside itself, never across an await.
fn off_runtime<R>(step: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(step),
        _ => step(),
    }
}

/// A session's error, as the network layer names it (with the peer).
fn session_error<E: Into<NetError>>(peer: &str, e: SessionError<E>) -> NetError {
    let peer = peer.to_string();
    match e {
        SessionError::Bad(source) => NetError::BadChanges { peer, source },
        SessionError::Local(e) => e.into(),
        SessionError::PeerRejected(reason) => NetError::PeerRejected { peer, reason },
        SessionError::Protocol(reason) => NetError::Protocol { peer, reason },
        SessionError::Timeout(what) => NetError::Timeout { peer, what },
        SessionError::Closed => NetError::Connection {
            peer,
            reason: "the peer closed the connection".into(),
        },
        SessionError::PeerRemoved => NetError::RefusedPeer {
            peer,
            reason: crate::proto::session::REMOVED.into(),
        },
        SessionError::Refused(reason) => NetError::Refused { peer, reason },
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

/// Reads a handshake frame: at most [`MAX_HANDSHAKE_FRAME_BYTES`] (a peer not yet known to be
/// a member gets no bigger buffer), within [`HANDSHAKE_TIMEOUT_SECS`].
async fn read_handshake(recv: &mut RecvStream, peer: &str) -> Result<Frame, NetError> {
    match timeout(
        Duration::from_secs(HANDSHAKE_TIMEOUT_SECS),
        read_frame_within(recv, MAX_HANDSHAKE_FRAME_BYTES),
    )
    .await
    {
        Ok(r) => r.map_err(|e| wire_err(peer, e)),
        Err(_) => Err(NetError::Timeout {
            peer: peer.to_string(),
            what: "handshake",
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

fn close(conn: &Connection, code: CloseCode) {
    conn.close(code.code().into(), code.reason());
}

/// Sends a last frame (if any), finishes the stream, gives the peer `linger` to close first
/// (it closes when it reads the last frame), then closes the connection with `code`.
async fn last_frame(
    conn: &Connection,
    send: &mut SendStream,
    frame: Option<&Frame>,
    code: CloseCode,
    linger: Duration,
) {
    if let Some(frame) = frame {
        let _ = write_frame(send, frame).await;
    }
    let _ = send.finish();
    if !linger.is_zero() {
        let _ = timeout(linger, conn.closed()).await;
    }
    close(conn, code);
}
