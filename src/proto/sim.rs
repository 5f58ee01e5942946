//! A simulated network for the sync protocol: real [`Session`]s, frames encoded and decoded as
//! on the wire, and a virtual clock. Nothing here sleeps or touches a socket, so a run is
//! deterministic and fast; the tests, the load property test and the benchmark drive the same
//! state machine the devices run over iroh.
//!
//! - [`one_shot`]: one connection between two targets until the sync is over (or cut).
//! - [`Network`]: devices with replicas, live or one-shot links between them, local edits
//!   pushed to live sessions, timers fired as the virtual clock advances.
//!
//! ```
//! use alliance::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
//! use alliance::core::sync::PeerSync;
//! use alliance::proto::sim::{one_shot, Outcome};
//!
//! let ada = DeviceKey::from_seed([1; 32]);
//! let w = Writer { key: &ada, actor_tag: [1; 8], now: Timestamp(0) };
//! let (mut a, _, _) = Replica::create(&w, &mut SeededEntropy::new(1), "Us", "Ada", "parent")?;
//! let mut b = Replica::empty(a.id());
//! let ben = DeviceKey::from_seed([2; 32]).device_id();
//! let run = one_shot(
//!     (ada.device_id(), &mut a, &mut PeerSync::new()),
//!     (ben, &mut b, &mut PeerSync::new()),
//!     None,
//! );
//! assert_eq!(run.outcome, Outcome::Done);
//! assert_eq!(a.heads(), b.heads());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::sync::{PeerSync, SyncMessage};
use crate::core::{DeviceId, ReceiveError, Replica, SignedChange, Unverified, Verified};
use crate::proto::frame::{self, Frame};
use crate::proto::session::{
    Action, Event, Failed, FreshChanges, Mode, Report, Session, Side, Target,
};

/// Steps after which a simulation is considered stuck.
const MAX_STEPS: usize = 1_000_000;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Both sessions finished without an error.
    Done,
    /// The connection was lost after the number of frames asked for.
    Cut,
    /// A session ended with an error: which end (0 dialer, 1 listener) and the error.
    Failed { end: usize, error: String },
    /// Still running (a live link).
    Open,
}

/// What a one-shot connection did.
#[derive(Debug, Clone)]
pub struct Run {
    pub outcome: Outcome,
    /// Frames delivered, and their bytes as on the wire.
    pub frames: usize,
    pub bytes: usize,
    /// Each end's report (dialer, listener).
    pub reports: [Report; 2],
    /// Quarantines the ends asked for (end, reason).
    pub quarantines: Vec<(usize, String)>,
    /// The last sync message each end sent (to explain a refusal).
    pub last_sync: [Option<SyncMessage>; 2],
}

/// A frame as it crosses the wire: encoded, then decoded. Returns it and its size.
pub fn over_wire(frame: &Frame) -> (Frame, usize) {
    let bytes = frame::encode(frame);
    let decoded = frame::decode(&bytes[4..]).expect("an encoded frame decodes");
    (decoded, bytes.len())
}

/// One connection: two sessions and the frames in flight to each.
struct Link {
    ends: [Session; 2],
    inbox: [VecDeque<Frame>; 2],
    /// The peer closed: deliver `Closed` to this end once its inbox is empty.
    closing: [bool; 2],
    timers: [Option<Instant>; 2],
    results: [Option<Result<Report, String>>; 2],
    quarantines: Vec<(usize, String)>,
    last_sync: [Option<SyncMessage>; 2],
    cut_after: Option<usize>,
    cut: bool,
    frames: usize,
    bytes: usize,
}

impl Link {
    fn new(dialer: Session, listener: Session, cut_after: Option<usize>) -> Link {
        Link {
            ends: [dialer, listener],
            inbox: Default::default(),
            closing: [false; 2],
            timers: [None; 2],
            results: [None, None],
            quarantines: Vec::new(),
            last_sync: [None, None],
            cut_after,
            cut: false,
            frames: 0,
            bytes: 0,
        }
    }

    fn finished(&self) -> bool {
        self.cut || self.results.iter().all(Option::is_some)
    }

    /// Carries out end `i`'s actions.
    fn act<E: std::fmt::Display>(&mut self, i: usize, actions: Vec<Action<E>>) {
        for action in actions {
            match action {
                Action::Send(frame) => {
                    if self.cut || self.results[1 - i].is_some() {
                        continue;
                    }
                    if self.cut_after == Some(self.frames) {
                        self.cut = true;
                        continue;
                    }
                    let (frame, bytes) = over_wire(&frame);
                    if let Frame::Sync(m) = &frame {
                        self.last_sync[i] = Some(m.clone());
                    }
                    self.frames += 1;
                    self.bytes += bytes;
                    self.inbox[1 - i].push_back(frame);
                }
                Action::ScheduleTimer(at) => self.timers[i] = at,
                Action::Quarantine { reason } => self.quarantines.push((i, reason)),
                Action::Progress(_) => {}
                Action::Close { .. } => self.closing[1 - i] = true,
                Action::Finished(r) => {
                    self.timers[i] = None;
                    self.closing[1 - i] = true;
                    self.results[i] = Some(r.map_err(|e| e.to_string()));
                }
            }
        }
    }

    /// The next event for one of the ends, if any is due at `now`: frames first, then closes.
    fn next_event(&mut self) -> Option<(usize, Event)> {
        for i in 0..2 {
            if self.results[i].is_some() {
                continue;
            }
            if let Some(frame) = self.inbox[i].pop_front() {
                return Some((i, Event::Frame(frame)));
            }
        }
        for i in 0..2 {
            if self.results[i].is_none() && self.closing[i] {
                self.closing[i] = false;
                return Some((i, Event::Closed));
            }
        }
        None
    }

    /// The earliest timer of an end still running.
    fn next_timer(&self) -> Option<(usize, Instant)> {
        (0..2)
            .filter(|&i| self.results[i].is_none())
            .filter_map(|i| self.timers[i].map(|t| (i, t)))
            .min_by_key(|&(_, t)| t)
    }

    fn outcome(&self) -> Outcome {
        if self.cut {
            return Outcome::Cut;
        }
        for (end, r) in self.results.iter().enumerate() {
            if let Some(Err(error)) = r {
                return Outcome::Failed {
                    end,
                    error: error.clone(),
                };
            }
        }
        if self.finished() {
            Outcome::Done
        } else {
            Outcome::Open
        }
    }
}

/// One end of a connection for [`one_shot`]: the device, its target, its sync state with the
/// other end (taken for the session and put back after it, however it ended).
pub type End<'a, T> = (DeviceId, &'a mut T, &'a mut PeerSync);

/// One one-shot connection, `a` dialing `b`, as `net::session` runs it, every frame through the
/// wire encoding, until both sessions finished. `cut_after: Some(n)` loses the connection after
/// `n` frames (the next one is lost in flight).
pub fn one_shot<A: Target, B: Target>(
    (a_id, a, sa): End<'_, A>,
    (b_id, b, sb): End<'_, B>,
    cut_after: Option<usize>,
) -> Run {
    let start = Instant::now();
    let mut now = start;
    let mut link = Link::new(
        Session::new(b_id, Side::Dialer, Mode::OneShot, std::mem::take(sa)),
        Session::new(a_id, Side::Listener, Mode::OneShot, std::mem::take(sb)),
        cut_after,
    );
    let first = link.ends[0].start(a, now);
    link.act(0, first);
    let first = link.ends[1].start(b, now);
    link.act(1, first);
    for _ in 0..MAX_STEPS {
        if link.finished() {
            break;
        }
        let (i, event) = match link.next_event() {
            Some(e) => e,
            None => match link.next_timer() {
                Some((i, at)) => {
                    now = now.max(at);
                    (i, Event::Timer)
                }
                None => break,
            },
        };
        if i == 0 {
            let actions = link.ends[0].handle(event, a, now);
            link.act(0, actions);
        } else {
            let actions = link.ends[1].handle(event, b, now);
            link.act(1, actions);
        }
    }
    let reports = [link.ends[0].report(), link.ends[1].report()];
    let outcome = link.outcome();
    let Link {
        ends: [da, db],
        quarantines,
        frames,
        bytes,
        last_sync,
        ..
    } = link;
    *sa = da.into_sync();
    *sb = db.into_sync();
    Run {
        outcome,
        frames,
        bytes,
        reports,
        quarantines,
        last_sync,
    }
}

/// A device of a [`Network`]: its replica, the sync states it keeps for its peers, and what
/// entered its replica since the network last passed it on to its live sessions.
#[derive(Debug)]
pub struct SimDevice {
    pub id: DeviceId,
    pub replica: Replica,
    /// Sync states kept between connections, by peer.
    pub saved: HashMap<DeviceId, Vec<u8>>,
    /// Peers this device quarantined, with the reason.
    pub quarantined: Vec<(DeviceId, String)>,
    /// Whole documents received (the replica changed without a list of changes).
    resync: bool,
    fresh: Vec<SignedChange<Verified>>,
}

impl SimDevice {
    pub fn new(id: DeviceId, replica: Replica) -> SimDevice {
        SimDevice {
            id,
            replica,
            saved: HashMap::new(),
            quarantined: Vec::new(),
            resync: false,
            fresh: Vec::new(),
        }
    }
}

/// A device is a session target as a running device is: what enters its replica is passed on
/// to its other live sessions.
impl Target for SimDevice {
    type Error = Infallible;

    fn generate(
        &mut self,
        sync: &mut PeerSync,
        to: &DeviceId,
    ) -> Result<Option<SyncMessage>, Failed<Infallible>> {
        self.replica.generate(sync, to)
    }

    fn may_send(&mut self, to: &DeviceId) -> Result<(), Failed<Infallible>> {
        self.replica.may_send(to)
    }

    fn receive(
        &mut self,
        sync: &mut PeerSync,
        msg: SyncMessage,
        _from: &DeviceId,
    ) -> Result<(), Failed<Infallible>> {
        let applied = sync.receive(&mut self.replica, msg).map_err(Failed::Bad)?;
        self.resync |= applied.loaded > 0;
        self.fresh.extend(applied.new);
        Ok(())
    }

    fn receive_pushed(
        &mut self,
        changes: Vec<SignedChange<Unverified>>,
        _from: &DeviceId,
    ) -> Result<bool, Failed<Infallible>> {
        match self.replica.receive(changes) {
            Ok(received) => {
                self.fresh.extend(received.new);
                Ok(true)
            }
            Err(ReceiveError::MissingDependencies { .. }) => Ok(false),
            Err(e) => Err(Failed::Bad(e.into())),
        }
    }
}

/// Identifies a link of a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(usize);

/// Devices and the connections between them, on a virtual clock.
pub struct Network {
    pub devices: Vec<SimDevice>,
    links: Vec<(usize, usize, Link)>,
    now: Instant,
}

impl Network {
    pub fn new(devices: Vec<SimDevice>) -> Network {
        Network {
            devices,
            links: Vec::new(),
            now: Instant::now(),
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    fn pair(&mut self, a: usize, b: usize) -> (&mut SimDevice, &mut SimDevice) {
        assert_ne!(a, b, "a device does not connect to itself");
        if a < b {
            let (l, r) = self.devices.split_at_mut(b);
            (&mut l[a], &mut r[0])
        } else {
            let (l, r) = self.devices.split_at_mut(a);
            (&mut r[0], &mut l[b])
        }
    }

    /// Device `a` dials device `b` (the handshake is taken as passed); each continues from the
    /// sync state it kept for the other. `cut_after` loses the connection after that many
    /// frames.
    pub fn connect(&mut self, a: usize, b: usize, mode: Mode, cut_after: Option<usize>) -> LinkId {
        let now = self.now;
        let (da, db) = self.pair(a, b);
        let load = |d: &mut SimDevice, peer: &DeviceId| {
            d.saved
                .get(peer)
                .map(|s| PeerSync::decode(s))
                .unwrap_or_default()
        };
        let (sa, sb) = (load(da, &db.id), load(db, &da.id));
        let mut link = Link::new(
            Session::new(db.id, Side::Dialer, mode, sa),
            Session::new(da.id, Side::Listener, mode, sb),
            cut_after,
        );
        let first = link.ends[0].start(da, now);
        link.act(0, first);
        let first = link.ends[1].start(db, now);
        link.act(1, first);
        self.links.push((a, b, link));
        let id = LinkId(self.links.len() - 1);
        self.after_step(id);
        id
    }

    /// Device `d` made changes (a local edit): its live sessions push them.
    pub fn commit(&mut self, d: usize, changes: Vec<SignedChange<Verified>>) {
        self.devices[d].fresh.extend(changes);
        self.spread(d, None);
    }

    /// Device `d`'s live sessions fell behind (a lagged notice stream): each runs a sync round.
    pub fn lag(&mut self, d: usize) {
        self.devices[d].resync = true;
        self.spread(d, None);
    }

    /// Drops a link's connection: both ends see it closed.
    pub fn disconnect(&mut self, link: LinkId) {
        let l = &mut self.links[link.0].2;
        l.closing = [true, true];
        self.run_until_quiet();
    }

    /// How the link ended, or [`Outcome::Open`].
    pub fn outcome(&self, link: LinkId) -> Outcome {
        self.links[link.0].2.outcome()
    }

    /// Frames and bytes a link carried.
    pub fn traffic(&self, link: LinkId) -> (usize, usize) {
        let l = &self.links[link.0].2;
        (l.frames, l.bytes)
    }

    /// The reports of a link's ends (dialer, listener) so far.
    pub fn reports(&self, link: LinkId) -> [Report; 2] {
        let l = &self.links[link.0].2;
        [l.ends[0].report(), l.ends[1].report()]
    }

    /// Whether a session's timer is pending on the link.
    pub fn timer_pending(&self, link: LinkId) -> bool {
        self.links[link.0].2.next_timer().is_some()
    }

    /// Delivers frames and closes until nothing is in flight, without moving the clock.
    /// Returns the events delivered.
    pub fn run_until_quiet(&mut self) -> usize {
        let mut steps = 0;
        while let Some(link) = (0..self.links.len()).find(|&l| !self.links[l].2.finished()) {
            let Some(l) = (link..self.links.len())
                .chain(0..link)
                .find(|&l| !self.links[l].2.finished() && self.has_event(l))
            else {
                break;
            };
            self.step(LinkId(l));
            steps += 1;
            assert!(steps < MAX_STEPS, "the simulated network did not settle");
        }
        steps
    }

    /// Moves the clock forward by `by`, firing every timer that falls due on the way (and
    /// delivering what they cause). Returns the events delivered.
    pub fn advance(&mut self, by: Duration) -> usize {
        let until = self.now + by;
        let mut steps = self.run_until_quiet();
        loop {
            let due = self
                .links
                .iter()
                .enumerate()
                .filter_map(|(l, (_, _, link))| link.next_timer().map(|(i, t)| (t, l, i)))
                .filter(|&(t, _, _)| t <= until)
                .min();
            let Some((at, l, i)) = due else { break };
            self.now = self.now.max(at);
            self.deliver(LinkId(l), i, Event::Timer);
            steps += 1 + self.run_until_quiet();
        }
        self.now = until;
        steps
    }

    /// Runs until nothing is in flight and no timer is pending (a live link settles once its
    /// settle timer has fired). Returns the events delivered.
    pub fn settle(&mut self) -> usize {
        let mut steps = self.run_until_quiet();
        while let Some(at) = self
            .links
            .iter()
            .filter_map(|(_, _, link)| link.next_timer().map(|(_, t)| t))
            .min()
        {
            steps += self.advance(at.saturating_duration_since(self.now));
        }
        steps
    }

    fn has_event(&self, l: usize) -> bool {
        let link = &self.links[l].2;
        (0..2).any(|i| link.results[i].is_none() && (!link.inbox[i].is_empty() || link.closing[i]))
    }

    fn step(&mut self, link: LinkId) {
        if let Some((i, event)) = self.links[link.0].2.next_event() {
            self.deliver(link, i, event);
        }
    }

    /// Hands `event` to end `i` of `link`, carries out its actions and passes on what entered
    /// that device's replica.
    fn deliver(&mut self, link: LinkId, i: usize, event: Event) {
        let now = self.now;
        let (a, b, l) = &mut self.links[link.0];
        let d = if i == 0 { *a } else { *b };
        let device = &mut self.devices[d];
        let actions = l.ends[i].handle(event, device, now);
        l.act(i, actions);
        self.after_step(link);
    }

    /// After a step: finished sessions keep their sync states and quarantines, and what
    /// entered a replica goes to that device's other live sessions.
    fn after_step(&mut self, link: LinkId) {
        let (a, b) = (self.links[link.0].0, self.links[link.0].1);
        for (i, d) in [(0, a), (1, b)] {
            let (peer, sync) = {
                let l = &self.links[link.0].2;
                (*l.ends[i].peer(), l.ends[i].sync().encode())
            };
            self.devices[d].saved.insert(peer, sync);
            let quarantines: Vec<String> = {
                let l = &mut self.links[link.0].2;
                let (mine, rest): (Vec<_>, Vec<_>) =
                    l.quarantines.drain(..).partition(|(end, _)| *end == i);
                l.quarantines = rest;
                mine.into_iter().map(|(_, r)| r).collect()
            };
            for reason in quarantines {
                self.devices[d].quarantined.push((peer, reason));
            }
            self.spread(d, Some((link, peer)));
        }
    }

    /// Passes what entered device `d`'s replica to its live sessions (but not back to the
    /// peer it came from).
    fn spread(&mut self, d: usize, from: Option<(LinkId, DeviceId)>) {
        let changes = std::mem::take(&mut self.devices[d].fresh);
        let resync = std::mem::take(&mut self.devices[d].resync);
        if changes.is_empty() && !resync {
            return;
        }
        let fresh = Arc::new(FreshChanges {
            from: from.map(|(_, peer)| peer),
            changes,
        });
        let targets: Vec<(usize, usize)> = self
            .links
            .iter()
            .enumerate()
            .flat_map(|(l, (a, b, link))| {
                [(0, *a), (1, *b)]
                    .into_iter()
                    .filter(move |&(i, dev)| {
                        dev == d
                            && link.results[i].is_none()
                            && !link.cut
                            && link.ends[i].mode() == Mode::Live
                    })
                    .map(move |(i, _)| (l, i))
            })
            .collect();
        for (l, i) in targets {
            if !fresh.changes.is_empty() {
                self.deliver(LinkId(l), i, Event::Fresh(fresh.clone()));
            }
            if resync {
                self.deliver(LinkId(l), i, Event::Resync);
            }
        }
    }
}
