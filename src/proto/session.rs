//! One session between two devices, after the handshake, as a state machine without I/O.
//!
//! A [`Session`] takes [`Event`]s (a frame arrived, changes entered this device's replica, the
//! timer fired, the peer closed) with the time as an argument, and returns [`Action`]s (send
//! this frame, schedule the timer, quarantine the peer, close with this code, finished with this
//! report). It reads and writes the alliance through a [`Target`]: a [`Replica`] in memory, or,
//! at the edge, the device's store (`store::shared`, a target through `net::target`). The tokio
//! driver (`net::session`) only reads, writes, sleeps and selects; the simulator (`proto::sim`),
//! the load test and the benchmark drive this same machine.
//!
//! ```text
//! one-shot:  the dialer speaks first; each side answers a frame with Sync(msg) or Done; the
//!            session ends when a side says Done after the other said Done in the same round.
//!            Every wait for the peer's frame has a deadline (FRAME_TIMEOUT_SECS).
//! live:      a sync round at the start; then every change that enters this device's replica
//!            is pushed (Changes) as it comes, and the peer's pushes are verified and applied.
//!            A sync round runs again when a push misses dependencies, when this session fell
//!            behind (Resync), and SETTLE_AFTER_MS after the last push (the settle timer).
//! ```
//!
//! Whatever the peer sends goes through [`PeerSync::receive`] or [`Replica::receive`] (via the
//! target: verify, then apply, all or nothing) before it touches the replica; a failure sends
//! `Rejected` with the reason and closes ([`CloseCode::Rejected`]); a peer whose data made
//! Automerge panic is quarantined too.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::constants::{
    FRAME_TIMEOUT_SECS, MAX_BATCH_CHANGES, MAX_PASSED_ADDRS, MAX_PASSED_DEVICES, MAX_SYNC_ROUNDS,
    PUSH_CHUNK, SETTLE_AFTER_MS,
};
use crate::core::sync::{PeerSync, SyncError, SyncMessage, Vouch, newest_signatures, pair};
use crate::core::{DeviceId, ReceiveError, Replica, SignedChange, Unverified, Verified};
use crate::proto::frame::{CloseCode, Frame, PassedAddrs};

/// How long a one-shot session waits for the peer's next frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(FRAME_TIMEOUT_SECS);
/// How long after the last push a live session runs a sync round.
pub const SETTLE_AFTER: Duration = Duration::from_millis(SETTLE_AFTER_MS);
/// How long a listener waits, after its last frame of a one-shot sync, for the dialer to close.
pub const LINGER_DONE: Duration = Duration::from_secs(2);
/// How long a last `Rejected` frame is given to arrive before the connection closes.
pub const LINGER_REJECTED: Duration = Duration::from_millis(200);
/// What a device that was removed is told when its session ends for that reason.
pub const REMOVED: &str =
    "this device was removed from the alliance (or its person was): nothing more is sent to it";

/// Where a session reads and writes the alliance.
pub trait Target {
    /// A local failure (the store), as opposed to bad data from the peer.
    type Error: fmt::Display;

    /// The next sync message for the peer `to`, or `None` when there is nothing to say.
    /// Fails with [`Failed::PeerRemoved`] when `to` may no longer receive anything (see
    /// [`Target::may_send`]), checked together with the message's making.
    fn generate(
        &mut self,
        sync: &mut PeerSync,
        to: &DeviceId,
    ) -> Result<Option<SyncMessage>, Failed<Self::Error>>;

    /// Whether the peer `to` may still be sent anything: it is a member device as of this
    /// device's replica now. [`Failed::PeerRemoved`] once a removal of it (or of its person)
    /// entered the replica, made here or received: the session then ends at once.
    fn may_send(&mut self, to: &DeviceId) -> Result<(), Failed<Self::Error>>;

    /// Verifies and applies a sync message from `from` (and persists what it brought).
    fn receive(
        &mut self,
        sync: &mut PeerSync,
        msg: SyncMessage,
        from: &DeviceId,
    ) -> Result<(), Failed<Self::Error>>;

    /// Verifies and applies changes `from` pushed during a live session. `Ok(false)` when some
    /// of their dependencies are missing here: nothing was applied, and a sync round fetches
    /// what is missing.
    fn receive_pushed(
        &mut self,
        changes: Vec<SignedChange<Unverified>>,
        from: &DeviceId,
    ) -> Result<bool, Failed<Self::Error>>;

    /// The addresses this device knows of the alliance's other devices (not `to`'s own), to
    /// pass on to `to` once a session starts. None by default.
    fn addresses_for(&mut self, _to: &DeviceId) -> Vec<PassedAddrs> {
        Vec::new()
    }

    /// Addresses `from` passed on: hints for reaching the alliance's other devices (a target
    /// keeps those of its devices only). Ignored by default.
    fn learn_addresses(&mut self, _from: &DeviceId, _devices: Vec<PassedAddrs>) {}
}

/// Why a target could not take what the peer sent.
#[derive(Debug)]
pub enum Failed<E> {
    /// The peer's data failed verification: nothing of it was applied.
    Bad(SyncError),
    /// This device failed (its store); nothing of the peer's data was kept.
    Local(E),
    /// The peer was removed from the alliance (or its person was): nothing more goes to it.
    PeerRemoved,
}

impl<E: fmt::Display> fmt::Display for Failed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failed::Bad(e) => e.fmt(f),
            Failed::Local(e) => e.fmt(f),
            Failed::PeerRemoved => f.write_str(REMOVED),
        }
    }
}

/// A replica in memory is a target: a joining device before its join is stored, the simulator,
/// the tests and the benchmark.
impl Target for Replica {
    type Error = Infallible;

    fn generate(
        &mut self,
        sync: &mut PeerSync,
        to: &DeviceId,
    ) -> Result<Option<SyncMessage>, Failed<Infallible>> {
        self.may_send(to)?;
        Ok(sync.generate(self))
    }

    fn may_send(&mut self, to: &DeviceId) -> Result<(), Failed<Infallible>> {
        if self.may_receive(to) {
            Ok(())
        } else {
            Err(Failed::PeerRemoved)
        }
    }

    fn receive(
        &mut self,
        sync: &mut PeerSync,
        msg: SyncMessage,
        _from: &DeviceId,
    ) -> Result<(), Failed<Infallible>> {
        sync.receive(self, msg).map(|_| ()).map_err(Failed::Bad)
    }

    fn receive_pushed(
        &mut self,
        changes: Vec<SignedChange<Unverified>>,
        _from: &DeviceId,
    ) -> Result<bool, Failed<Infallible>> {
        match Replica::receive(self, changes) {
            Ok(_) => Ok(true),
            Err(ReceiveError::MissingDependencies { .. }) => Ok(false),
            Err(e) => Err(Failed::Bad(e.into())),
        }
    }
}

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Dialer,
    Listener,
}

/// What the dialer asked for in its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sync until both sides have nothing more to say, then close.
    OneShot,
    /// Stay connected and push changes both ways as they are made.
    Live,
}

/// Changes that entered this device's replica: a local edit, another command's edit read from
/// the store, or changes received from the device `from` (which need not get them back).
#[derive(Debug)]
pub struct FreshChanges {
    pub from: Option<DeviceId>,
    pub changes: Vec<SignedChange<Verified>>,
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

/// What happened, for a session to react to.
#[derive(Debug)]
pub enum Event {
    /// A frame arrived from the peer.
    Frame(Frame),
    /// Changes entered this device's replica (live sessions push them).
    Fresh(Arc<FreshChanges>),
    /// This device's replica changed without a list of changes (a whole history arrived as one
    /// document), or this session fell behind the stream of fresh changes: run a sync round.
    Resync,
    /// The timer the session asked for ([`Action::ScheduleTimer`]) fired.
    Timer,
    /// The peer closed its stream.
    Closed,
    /// This device stops the session (it shuts down).
    Stop,
}

/// What the driver should do, in order.
#[derive(Debug)]
pub enum Action<E> {
    /// Write this frame to the peer.
    Send(Frame),
    /// Deliver [`Event::Timer`] at this instant; replaces any earlier timer. `None` cancels.
    ScheduleTimer(Option<Instant>),
    /// The peer sent data that made Automerge panic: refuse its connections for a while.
    Quarantine { reason: String },
    /// Finish the stream, give the peer `linger` to close first, then close the connection.
    Close { code: CloseCode, linger: Duration },
    /// More of the peer's changes were verified and applied: how far the session has got, for
    /// a progress display (a driver may ignore it).
    Progress(Progress),
    /// The session is over. Nothing follows.
    Finished(Result<Report, SessionError<E>>),
}

/// How far a session has got in receiving, as data: whoever drives the session may show it
/// (the CLI draws a progress bar on a terminal); nothing here touches a terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Changes received from the peer, verified and applied so far in this session.
    pub received: usize,
    /// Changes that arrived in the frame being verified now (0 when none): the session will
    /// have received at most `received + checking` once it is verified.
    pub checking: usize,
}

/// What one session did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Changes sent to the peer.
    pub sent: usize,
    /// Changes received from the peer and applied.
    pub received: usize,
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError<E> {
    /// The peer sent changes that failed verification (it was told why, and disconnected).
    #[error("sent changes that failed verification and was disconnected: {0}")]
    Bad(SyncError),
    /// This device failed while taking the peer's data.
    #[error("{0}")]
    Local(E),
    /// The peer refused what this device sent.
    #[error("rejected our changes: {0}")]
    PeerRejected(String),
    /// The peer sent something the protocol does not allow here.
    #[error("broke the protocol: {0}")]
    Protocol(String),
    /// The peer did not answer in time.
    #[error("did not answer in time ({0})")]
    Timeout(&'static str),
    /// The peer closed the connection before the sync was over.
    #[error("closed the connection")]
    Closed,
    /// The peer was removed from the alliance: the session ended and nothing more was sent.
    #[error("{REMOVED}")]
    PeerRemoved,
    /// The peer ended the session, refusing this device (it was removed there).
    #[error("refused us: {0}")]
    Refused(String),
}

impl<E> From<Failed<E>> for SessionError<E> {
    fn from(f: Failed<E>) -> Self {
        match f {
            Failed::Bad(e) => SessionError::Bad(e),
            Failed::Local(e) => SessionError::Local(e),
            Failed::PeerRemoved => SessionError::PeerRemoved,
        }
    }
}

/// One session with one peer. Create it once the handshake succeeded, call [`Session::start`],
/// then [`Session::handle`] for every event until it returns [`Action::Finished`].
#[derive(Debug)]
pub struct Session {
    peer: DeviceId,
    side: Side,
    mode: Mode,
    sync: PeerSync,
    /// Counters of `sync` when the session started.
    base: (usize, usize),
    /// One-shot: rounds so far; this side said Done in its last frame.
    rounds: usize,
    said_done: bool,
    /// Live: a sync round is due; the settle timer.
    round_due: bool,
    settle: Option<Instant>,
    /// The timer the driver holds for us.
    timer: Option<Instant>,
    finished: bool,
    /// The received count last reported with [`Action::Progress`].
    reported: usize,
}

impl Session {
    /// A session with `peer`, continuing from the sync state kept for it (or a fresh one).
    pub fn new(peer: DeviceId, side: Side, mode: Mode, sync: PeerSync) -> Session {
        Session {
            peer,
            side,
            mode,
            base: (sync.sent, sync.received),
            sync,
            rounds: 0,
            said_done: false,
            round_due: true,
            settle: None,
            timer: None,
            finished: false,
            reported: 0,
        }
    }

    pub fn peer(&self) -> &DeviceId {
        &self.peer
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the session has finished (no event changes anything any more).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The sync state with the peer, to keep for the next connection.
    pub fn sync(&self) -> &PeerSync {
        &self.sync
    }

    pub fn into_sync(self) -> PeerSync {
        self.sync
    }

    /// What the session did so far.
    pub fn report(&self) -> Report {
        Report {
            sent: self.sync.sent.saturating_sub(self.base.0),
            received: self.sync.received.saturating_sub(self.base.1),
        }
    }

    /// What to show while `frame`, which just arrived, is handled: the changes it carries are
    /// being verified. `None` when it carries none.
    pub fn arriving(&self, frame: &Frame) -> Option<Progress> {
        let checking = match frame {
            Frame::Sync(m) => usize::try_from(m.changes).unwrap_or(usize::MAX),
            Frame::Changes { changes, .. } => changes.len(),
            _ => 0,
        };
        (checking > 0).then(|| Progress {
            received: self.report().received,
            checking,
        })
    }

    /// Starts the session: the dialer of a one-shot sync speaks first; a one-shot listener
    /// waits for it; a live session runs a sync round.
    pub fn start<T: Target>(&mut self, target: &mut T, now: Instant) -> Vec<Action<T::Error>> {
        let mut out = Vec::new();
        let may_send = target.may_send(&self.peer).is_ok();
        if may_send {
            let devices = target.addresses_for(&self.peer);
            if !devices.is_empty() {
                out.push(Action::Send(Frame::Addresses { devices }));
            }
        }
        let result = match (self.mode, self.side) {
            _ if !may_send => Err(SessionError::PeerRemoved),
            (Mode::OneShot, Side::Dialer) => self.speak(target, now, &mut out),
            (Mode::OneShot, Side::Listener) => {
                self.wait_for_peer(now, &mut out);
                Ok(false)
            }
            (Mode::Live, _) => self.live_round(target, now, &mut out),
        };
        self.conclude(result, &mut out);
        out
    }

    /// Reacts to one event at `now`.
    pub fn handle<T: Target>(
        &mut self,
        event: Event,
        target: &mut T,
        now: Instant,
    ) -> Vec<Action<T::Error>> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        // Membership before anything else: a removal that entered this device's replica since
        // the last event (made here, or received from anyone) ends the session before another
        // frame goes out or is answered.
        let result = match target.may_send(&self.peer) {
            Err(e) if !matches!(event, Event::Closed | Event::Stop) => Err(e.into()),
            // Hints for reaching other devices: kept, and the sync goes on as it was.
            Ok(()) if matches!(event, Event::Frame(Frame::Addresses { .. })) => {
                if let Event::Frame(Frame::Addresses { mut devices }) = event {
                    devices.truncate(MAX_PASSED_DEVICES);
                    for d in &mut devices {
                        d.addrs.truncate(MAX_PASSED_ADDRS);
                    }
                    target.learn_addresses(&self.peer, devices);
                }
                Ok(false)
            }
            _ => match self.mode {
                Mode::OneShot => self.one_shot(event, target, now, &mut out),
                Mode::Live => self.live(event, target, now, &mut out),
            },
        };
        let received = self.report().received;
        if received != self.reported {
            self.reported = received;
            out.push(Action::Progress(Progress {
                received,
                checking: 0,
            }));
        }
        self.conclude(result, &mut out);
        out
    }

    /// `Ok(true)`: the session is over, successfully.
    fn conclude<E>(&mut self, result: Result<bool, SessionError<E>>, out: &mut Vec<Action<E>>) {
        let finished = match result {
            Ok(false) => return,
            Ok(true) => Ok(self.report()),
            Err(e) => {
                if !out.iter().any(|a| matches!(a, Action::Close { .. })) {
                    let (code, linger) = match &e {
                        SessionError::Closed => (CloseCode::Done, Duration::ZERO),
                        SessionError::PeerRemoved => {
                            // Told why, and nothing else: the frames queued before the check
                            // were decided before the removal was known here.
                            out.push(Action::Send(Frame::Refused {
                                reason: REMOVED.into(),
                            }));
                            (CloseCode::Refused, LINGER_REJECTED)
                        }
                        _ => (CloseCode::Broken, Duration::ZERO),
                    };
                    out.push(Action::Close { code, linger });
                }
                Err(e)
            }
        };
        if self.timer.take().is_some() {
            out.push(Action::ScheduleTimer(None));
        }
        self.finished = true;
        out.push(Action::Finished(finished));
    }

    fn set_timer<E>(&mut self, at: Option<Instant>, out: &mut Vec<Action<E>>) {
        if self.timer != at {
            self.timer = at;
            out.push(Action::ScheduleTimer(at));
        }
    }

    fn wait_for_peer<E>(&mut self, now: Instant, out: &mut Vec<Action<E>>) {
        self.set_timer(Some(now + FRAME_TIMEOUT), out);
    }

    /// One-shot: say what this side has (a sync message or Done) and wait for the answer.
    fn speak<T: Target>(
        &mut self,
        target: &mut T,
        now: Instant,
        out: &mut Vec<Action<T::Error>>,
    ) -> Result<bool, SessionError<T::Error>> {
        self.rounds += 1;
        if self.rounds > MAX_SYNC_ROUNDS {
            return Err(SessionError::Protocol("sync did not settle".into()));
        }
        let mine = target.generate(&mut self.sync, &self.peer)?;
        self.said_done = mine.is_none();
        out.push(Action::Send(mine.map(Frame::Sync).unwrap_or(Frame::Done)));
        self.wait_for_peer(now, out);
        Ok(false)
    }

    fn one_shot<T: Target>(
        &mut self,
        event: Event,
        target: &mut T,
        now: Instant,
        out: &mut Vec<Action<T::Error>>,
    ) -> Result<bool, SessionError<T::Error>> {
        let frame = match event {
            Event::Frame(frame) => frame,
            Event::Timer if self.timer.is_some_and(|t| now >= t) => {
                return Err(SessionError::Timeout("sync"));
            }
            Event::Closed => return Err(SessionError::Closed),
            Event::Stop => return Ok(true),
            Event::Timer | Event::Fresh(_) | Event::Resync => return Ok(false),
        };
        let peer_done = match frame {
            Frame::Sync(m) => {
                self.receive_or_reject(target, m, out)?;
                false
            }
            Frame::Done => true,
            Frame::Rejected { reason } => return Err(SessionError::PeerRejected(reason)),
            Frame::Refused { reason } => return Err(SessionError::Refused(reason)),
            _ => {
                return Err(SessionError::Protocol(
                    "unexpected frame during sync".into(),
                ));
            }
        };
        match self.side {
            // The dialer spoke, the listener answered: done when both said Done.
            Side::Dialer if peer_done && self.said_done => {
                out.push(Action::Close {
                    code: CloseCode::Done,
                    linger: Duration::ZERO,
                });
                Ok(true)
            }
            Side::Dialer => self.speak(target, now, out),
            // The listener answers; done when the dialer's Done is answered with Done.
            Side::Listener => {
                self.speak(target, now, out)?;
                if peer_done && self.said_done {
                    out.push(Action::Close {
                        code: CloseCode::Done,
                        linger: LINGER_DONE,
                    });
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    fn live<T: Target>(
        &mut self,
        event: Event,
        target: &mut T,
        now: Instant,
        out: &mut Vec<Action<T::Error>>,
    ) -> Result<bool, SessionError<T::Error>> {
        match event {
            Event::Frame(Frame::Sync(m)) => {
                self.receive_or_reject(target, m, out)?;
                self.round_due = true;
            }
            Event::Frame(Frame::Changes {
                changes,
                signatures,
            }) => {
                let count = changes.len();
                let applied = parse_pushed(changes, signatures)
                    .map_err(Failed::Bad)
                    .and_then(|batch| target.receive_pushed(batch, &self.peer));
                match applied {
                    Ok(true) => {
                        self.sync.received += count;
                        self.settle = Some(now + SETTLE_AFTER);
                    }
                    Ok(false) => {
                        // Missing dependencies. The sync state may believe the peer has
                        // nothing for us (pushes do not update it), so start it afresh: the
                        // round then asks for everything this device lacks.
                        let (sent, received) = (self.sync.sent, self.sync.received);
                        self.sync = PeerSync::new();
                        self.sync.sent = sent;
                        self.sync.received = received;
                        self.round_due = true;
                    }
                    Err(e) => return Err(self.reject(e, out)),
                }
            }
            Event::Frame(Frame::Done) => {}
            Event::Frame(Frame::Rejected { reason }) => {
                return Err(SessionError::PeerRejected(reason));
            }
            Event::Frame(Frame::Refused { reason }) => return Err(SessionError::Refused(reason)),
            Event::Frame(_) => return Err(SessionError::Protocol("unexpected frame".into())),
            Event::Fresh(fresh) => {
                if fresh.from != Some(self.peer) && !fresh.changes.is_empty() {
                    for part in fresh.changes.chunks(PUSH_CHUNK) {
                        match push_frame(part) {
                            Some(frame) => {
                                out.push(Action::Send(frame));
                                self.sync.sent += part.len();
                            }
                            // A part whose newest change of an author has no signature here
                            // (a large batch from a third device, cut in parts): a sync round
                            // sends it with the changes up to one that has.
                            None => self.round_due = true,
                        }
                    }
                    self.settle = Some(now + SETTLE_AFTER);
                }
            }
            Event::Resync => self.round_due = true,
            Event::Timer => {
                if self.settle.is_some_and(|t| now >= t) {
                    self.settle = None;
                    self.round_due = true;
                }
            }
            Event::Closed | Event::Stop => return Ok(true),
        }
        self.live_round(target, now, out)
    }

    /// Live: runs a sync round if one is due, and keeps the settle timer.
    fn live_round<T: Target>(
        &mut self,
        target: &mut T,
        _now: Instant,
        out: &mut Vec<Action<T::Error>>,
    ) -> Result<bool, SessionError<T::Error>> {
        if std::mem::take(&mut self.round_due)
            && let Some(m) = target.generate(&mut self.sync, &self.peer)?
        {
            out.push(Action::Send(Frame::Sync(m)));
        }
        self.set_timer(self.settle, out);
        Ok(false)
    }

    /// Receives a sync message; on a failure tells the peer why and closes.
    fn receive_or_reject<T: Target>(
        &mut self,
        target: &mut T,
        msg: SyncMessage,
        out: &mut Vec<Action<T::Error>>,
    ) -> Result<(), SessionError<T::Error>> {
        target
            .receive(&mut self.sync, msg, &self.peer)
            .map_err(|e| self.reject(e, out))
    }

    /// Tells the peer why what it sent was refused and closes; a peer whose data made
    /// Automerge panic is quarantined as well.
    fn reject<E: fmt::Display>(
        &mut self,
        failed: Failed<E>,
        out: &mut Vec<Action<E>>,
    ) -> SessionError<E> {
        let reason = failed.to_string();
        out.push(Action::Send(Frame::Rejected {
            reason: reason.clone(),
        }));
        if let Failed::Bad(e) = &failed
            && e.is_hostile()
        {
            out.push(Action::Quarantine { reason });
        }
        out.push(Action::Close {
            code: CloseCode::Rejected,
            linger: LINGER_REJECTED,
        });
        failed.into()
    }
}

/// The frame that pushes `changes` to a peer: their bytes, and the signatures of each author's
/// newest changes among them, which vouch for the rest. `None` when one of those has no
/// signature here.
pub fn push_frame(changes: &[SignedChange<Verified>]) -> Option<Frame> {
    Some(Frame::Changes {
        changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
        signatures: newest_signatures(changes)?,
    })
}

/// Parses pushed changes and pairs them with their signatures; nothing is trusted yet.
pub fn parse_pushed(
    changes: Vec<Vec<u8>>,
    signatures: Vec<Vouch>,
) -> Result<Vec<SignedChange<Unverified>>, SyncError> {
    if changes.len() > MAX_BATCH_CHANGES || signatures.len() > MAX_BATCH_CHANGES {
        return Err(ReceiveError::TooMany(changes.len().max(signatures.len())).into());
    }
    pair(changes, &signatures).map_err(|e| ReceiveError::Change(e).into())
}
