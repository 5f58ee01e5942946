//! A running device: its endpoint, the alliances it serves, and the tasks that accept
//! connections, keep live sessions with the other member devices, and watch the store for
//! edits made by other `alliance` commands.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::Endpoint;
use tokio::task::JoinSet;

use crate::constants::MAX_STRANGER_CONNECTIONS;
use crate::core::Replica;
use crate::core::sync::PeerSync;
use crate::core::{AllianceId, DeviceId, DeviceKey, Entropy, Timestamp};
use crate::net::NetError;
use crate::net::endpoint::{NetConfig, addr_for, bind, direct_addrs};
use crate::net::session::{self, Dial, Finder, Listener, SessionReport};
use crate::net::ticket::InviteTicket;
use crate::net::wire::JoinRequest;
use crate::store::shared::SharedAlliance;

/// How often a running device checks the store for edits by other commands.
pub const DISK_POLL: Duration = Duration::from_millis(10);
/// Reconnect backoff for live sessions: from the first to the last value, doubling.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A device on the network.
pub struct Node {
    pub endpoint: Endpoint,
    pub listener: Arc<Listener>,
    tasks: JoinSet<()>,
    connected: Presence,
    /// The alliances [`Node::keep_live`] runs for.
    live: HashSet<AllianceId>,
}

/// How many sessions run with each device right now (either direction). A count, not a set:
/// a dial that fails while a session the peer dialled is running must not make it look gone.
#[derive(Clone, Default)]
struct Presence(Arc<Mutex<HashMap<DeviceId, usize>>>);

impl Presence {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One more session with `peer`.
    fn enter(&self, peer: DeviceId) {
        *self.map().entry(peer).or_default() += 1;
    }

    /// One more session with `peer` if none runs; returns whether it was claimed.
    fn claim(&self, peer: DeviceId) -> bool {
        let mut map = self.map();
        if map.get(&peer).is_some_and(|n| *n > 0) {
            return false;
        }
        map.insert(peer, 1);
        true
    }

    /// A session with `peer` ended.
    fn leave(&self, peer: &DeviceId) {
        let mut map = self.map();
        if let Some(count) = map.get_mut(peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(peer);
            }
        }
    }

    fn devices(&self) -> Vec<DeviceId> {
        self.map().keys().copied().collect()
    }
}

/// The outcome of syncing with one peer.
#[derive(Debug)]
pub struct PeerOutcome {
    pub device: DeviceId,
    pub result: Result<SessionReport, NetError>,
}

impl Node {
    /// Binds the endpoint and starts accepting connections for `alliances` (see
    /// [`Node::find_with`] for others).
    pub async fn start(
        key: DeviceKey,
        config: &NetConfig,
        alliances: Vec<Arc<SharedAlliance>>,
        entropy: Box<dyn Entropy + Send>,
        now: fn() -> Timestamp,
    ) -> Result<Node, NetError> {
        let endpoint = bind(&key, config).await?;
        let my_addrs = direct_addrs(&endpoint);
        let listener = Arc::new(Listener::new(
            key,
            alliances,
            config.finds_by_key(),
            my_addrs,
            entropy,
            now,
        ));
        let mut node = Node {
            endpoint,
            listener,
            tasks: JoinSet::new(),
            connected: Presence::default(),
            live: HashSet::new(),
        };
        node.spawn_accept_loop();
        Ok(node)
    }

    /// When a peer asks for an alliance not served, looks for it with `finder` (once set, it
    /// stays).
    pub fn find_with(&self, finder: Finder) {
        self.listener.find_with(finder);
    }

    /// The alliances this node serves.
    pub fn alliances(&self) -> Vec<Arc<SharedAlliance>> {
        self.listener.alliances()
    }

    /// Serves alliance `id` from now on if this device holds it (found by the node's finder);
    /// returns it. Live sessions start with [`Node::keep_all_live`].
    pub fn serve(&self, id: &AllianceId) -> Option<Arc<SharedAlliance>> {
        self.listener.alliance(id)
    }

    /// [`Node::keep_live`] for every alliance served that is not kept live yet (one found when
    /// a peer asked for it, or added with [`Node::serve`]).
    pub fn keep_all_live(&mut self) {
        for shared in self.alliances() {
            if !self.live.contains(&shared.id) {
                self.keep_live(shared);
            }
        }
    }

    pub fn device(&self) -> DeviceId {
        self.listener.key.device_id()
    }

    pub fn addrs(&self) -> Vec<String> {
        self.listener.my_addrs.clone()
    }

    /// The devices with a session running right now (either direction).
    pub fn connected(&self) -> Vec<DeviceId> {
        self.connected.devices()
    }

    /// Waits (at most `limit`) until the endpoint has a home relay, so it can be reached through
    /// it. Returns whether it has one.
    pub async fn wait_for_relay(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.endpoint.online())
            .await
            .is_ok()
    }

    fn spawn_accept_loop(&mut self) {
        let endpoint = self.endpoint.clone();
        let listener = self.listener.clone();
        let connected = self.connected.clone();
        let strangers = Arc::new(tokio::sync::Semaphore::new(MAX_STRANGER_CONNECTIONS));
        self.tasks.spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let listener = listener.clone();
                let connected = connected.clone();
                let strangers = strangers.clone();
                tokio::spawn(async move {
                    let conn = match incoming.await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::debug!(error = %e, "incoming connection failed");
                            return;
                        }
                    };
                    let peer = crate::net::endpoint::device_of(&conn.remote_id());
                    // Member devices always get in; others share a few slots.
                    let _slot = if listener.knows(&peer) {
                        None
                    } else {
                        match strangers.try_acquire_owned() {
                            Ok(slot) => Some(slot),
                            Err(_) => {
                                tracing::debug!(peer = %peer.short(), "too many connections from strangers");
                                let busy = crate::proto::frame::CloseCode::Busy;
                                conn.close(busy.code().into(), busy.reason());
                                return;
                            }
                        }
                    };
                    connected.enter(peer);
                    let events = listener.events.clone();
                    match session::accept(conn, listener).await {
                        Ok(r) => tracing::info!(peer = %peer.short(), sent = r.sent, received = r.received, "session ended"),
                        Err(NetError::RefusedPeer { reason, .. }) => {
                            tracing::debug!(peer = %peer.short(), %reason, "refused");
                            let _ = events.send(session::NodeEvent::Refused { device: peer, reason });
                        }
                        Err(e) => tracing::debug!(peer = %peer.short(), error = %e, "session failed"),
                    }
                    connected.leave(&peer);
                });
            }
        });
    }

    /// A handle that dials from this node (for tasks that outlive a borrow of it).
    pub fn dialer(&self) -> Dialer {
        Dialer {
            endpoint: self.endpoint.clone(),
            listener: self.listener.clone(),
        }
    }

    /// Hands `shared` to the keeper of `ticket` (an admin, after adding it): a one-shot sync
    /// whose hello carries the ticket's secret, so that a keeper that does not hold the
    /// alliance yet takes it. The keeper's addresses go into the address book.
    pub async fn hand_over(
        &self,
        shared: &Arc<SharedAlliance>,
        ticket: &crate::net::ticket::KeeperTicket,
    ) -> Result<SessionReport, NetError> {
        let keeper = crate::net::endpoint::device_of(&ticket.keeper.id);
        let now = (self.listener.now)();
        let mut sync = shared.load_peer_sync(&keeper);
        let result = session::dial(
            &self.endpoint,
            ticket.keeper.clone(),
            Dial {
                alliance: shared.id,
                join: None,
                hand_over: Some(ticket.secret),
                live: false,
                my_addrs: self.listener.my_addrs.clone(),
                target: &mut shared.as_ref(),
                sync: &mut sync,
                fresh: None,
                events: None,
                progress: None,
            },
        )
        .await;
        shared.save_peer_sync(&keeper, &sync);
        match &result {
            Ok((_, addrs)) => shared.record_contact(&keeper, addrs, Ok(()), now)?,
            Err(e) => {
                let _ = shared.record_contact(&keeper, &[], Err(&e.to_string()), now);
            }
        }
        result.map(|(r, _)| r)
    }

    /// Syncs each alliance once with each reachable member device (or only `only`).
    pub async fn sync_once(
        &self,
        shared: &Arc<SharedAlliance>,
        only: Option<&[DeviceId]>,
    ) -> Result<Vec<PeerOutcome>, NetError> {
        self.sync_once_reporting(shared, only, None).await
    }

    /// [`Node::sync_once`], reporting how each sync is going to `progress`.
    pub async fn sync_once_reporting(
        &self,
        shared: &Arc<SharedAlliance>,
        only: Option<&[DeviceId]>,
        progress: Option<session::OnProgress>,
    ) -> Result<Vec<PeerOutcome>, NetError> {
        let mut devices = shared.peer_devices(&self.device())?;
        if let Some(only) = only {
            devices.retain(|d| only.contains(d));
        }
        let book = shared.peer_book()?;
        Ok(self
            .dialer()
            .sync_each(shared, &book, &devices, progress)
            .await)
    }

    /// Keeps a live session with every member device of `shared` that is not connected already,
    /// reconnecting with backoff, and picks up edits made by other commands on this device.
    /// Devices that become members later are dialled too; a device is never dialled again
    /// once its removal (or its person's) is known here.
    pub fn keep_live(&mut self, shared: Arc<SharedAlliance>) {
        if !self.live.insert(shared.id) {
            return;
        }
        let poller = shared.clone();
        self.tasks.spawn(async move {
            loop {
                if let Err(e) = poller.poll_disk() {
                    tracing::warn!(error = %e, "cannot read the store");
                }
                tokio::time::sleep(DISK_POLL).await;
            }
        });
        let me = self.device();
        let (endpoint, listener, connected) = (
            self.endpoint.clone(),
            self.listener.clone(),
            self.connected.clone(),
        );
        // One dialling task per member device, started as devices become members.
        self.tasks.spawn(async move {
            let mut changed = shared.subscribe();
            let mut dialling = JoinSet::new();
            let mut started = HashSet::new();
            loop {
                for device in shared.peer_devices(&me).unwrap_or_default() {
                    if started.insert(device) {
                        dialling.spawn(keep_dialling(
                            endpoint.clone(),
                            listener.clone(),
                            shared.clone(),
                            connected.clone(),
                            device,
                        ));
                    }
                }
                if changed.changed().await.is_err() {
                    break;
                }
            }
            dialling.abort_all();
        });
    }

    /// What happens to this device's connections from now on, in a person's terms.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<session::NodeEvent> {
        self.listener.events.subscribe()
    }

    /// Stops every task and closes the endpoint.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.endpoint.close().await;
    }
}

/// Dials from a node: what a task needs to sync without holding the node.
#[derive(Clone)]
pub struct Dialer {
    endpoint: Endpoint,
    listener: Arc<Listener>,
}

impl Dialer {
    /// A one-shot sync of `shared` with each of `devices`, all at once; the outcomes in order.
    pub async fn sync_once(
        &self,
        shared: &Arc<SharedAlliance>,
        devices: &[DeviceId],
    ) -> Vec<PeerOutcome> {
        let book = shared.peer_book().unwrap_or_default();
        self.sync_each(shared, &book, devices, None).await
    }

    /// [`Dialer::sync_once`], reporting how each sync is going to `progress`. All at once: an
    /// unreachable device costs its connect timeout once, not once per device before it.
    async fn sync_each(
        &self,
        shared: &Arc<SharedAlliance>,
        book: &crate::core::peers::PeerBook,
        devices: &[DeviceId],
        progress: Option<session::OnProgress>,
    ) -> Vec<PeerOutcome> {
        let mut tasks = JoinSet::new();
        for (i, device) in devices.iter().copied().enumerate() {
            let (endpoint, listener, shared, book, progress) = (
                self.endpoint.clone(),
                self.listener.clone(),
                shared.clone(),
                book.clone(),
                progress.clone(),
            );
            tasks.spawn(async move {
                let result = sync_with(
                    &endpoint, &listener, &shared, &device, &book, false, progress,
                )
                .await;
                (i, PeerOutcome { device, result })
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(o) => outcomes.push(o),
                Err(e) => tracing::error!(error = %e, "a sync task failed"),
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }
}

/// Keeps a live session with `device` while it is a member device: dials it when no session
/// with it runs (either direction), again and again; the wait doubles after each dial that
/// fails, up to [`BACKOFF_MAX`], and starts over after a session. Ends once `device` is no
/// longer a member (removed, or its person removed): it is never dialled again.
async fn keep_dialling(
    endpoint: Endpoint,
    listener: Arc<Listener>,
    shared: Arc<SharedAlliance>,
    connected: Presence,
    device: DeviceId,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if !shared.is_peer(&device).unwrap_or(true) {
            tracing::info!(peer = %device.short(), "no longer a member device: not dialled any more");
            return;
        }
        let outcome = if connected.claim(device) {
            let book = shared.peer_book().unwrap_or_default();
            let r = sync_with(&endpoint, &listener, &shared, &device, &book, true, None).await;
            connected.leave(&device);
            match r {
                Ok(_) => Redial::AfterSession,
                Err(e) => {
                    tracing::debug!(peer = %device.short(), error = %e, "live session ended");
                    match e {
                        NetError::Unreachable { .. } | NetError::Quarantined { .. } => {
                            Redial::AfterFailedDial
                        }
                        _ => Redial::AfterSession,
                    }
                }
            }
        } else {
            Redial::WhileConnected
        };
        let wait;
        (wait, backoff) = outcome.wait(backoff);
        tokio::time::sleep(wait).await;
    }
}

/// Why a device is about to be dialled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redial {
    /// A session with it ran (it may have failed, but the device answered).
    AfterSession,
    /// The dial found nobody (or the device is quarantined here).
    AfterFailedDial,
    /// A session the device dialled runs: nothing was dialled.
    WhileConnected,
}

impl Redial {
    /// How long to wait before the next look, and the backoff after it: only a dial that
    /// found nobody makes the next wait longer (doubling up to [`BACKOFF_MAX`]); a device that
    /// answered, or dialled us, is looked at again after [`BACKOFF_MIN`].
    fn wait(self, backoff: Duration) -> (Duration, Duration) {
        match self {
            Redial::AfterFailedDial => (backoff, (backoff * 2).min(BACKOFF_MAX)),
            Redial::AfterSession | Redial::WhileConnected => (BACKOFF_MIN, BACKOFF_MIN),
        }
    }
}

/// Dials `device` with what the address book knows, syncs (one-shot or live), and records the
/// outcome and the sync state.
async fn sync_with(
    endpoint: &Endpoint,
    listener: &Listener,
    shared: &Arc<SharedAlliance>,
    device: &DeviceId,
    book: &crate::core::peers::PeerBook,
    live: bool,
    progress: Option<session::OnProgress>,
) -> Result<SessionReport, NetError> {
    let mut info = book
        .peers
        .get(&device.to_hex())
        .cloned()
        .unwrap_or_default();
    // A keeper's addresses as its ticket gave them, after the newer ones of the address book.
    for hint in shared.dial_hints(device) {
        if !info.addrs.contains(&hint) {
            info.addrs.push(hint);
        }
    }
    if info.addrs.is_empty() && info.relay.is_none() && !listener.lookup {
        return Err(NetError::Unreachable {
            peer: device.short(),
            reason: "no known address (sync with it once it is on the same network, or join with a ticket)".into(),
        });
    }
    if let Some(q) = book.quarantined(&device.to_hex(), (listener.now)()) {
        return Err(NetError::Quarantined {
            peer: device.short(),
            until: crate::core::Timestamp(q.until).to_rfc3339(),
            reason: q.reason.clone(),
        });
    }
    let addr = addr_for(device, &info.addrs, info.relay.as_deref());
    let mut sync = shared.load_peer_sync(device);
    let now = (listener.now)();
    let result = session::dial(
        endpoint,
        addr,
        Dial {
            alliance: shared.id,
            join: None,
            hand_over: None,
            live,
            my_addrs: listener.my_addrs.clone(),
            target: &mut shared.as_ref(),
            sync: &mut sync,
            fresh: live.then(|| shared.fresh()),
            events: Some(listener.events.clone()),
            progress: Some(session::telling(
                listener.events.clone(),
                shared.id,
                progress,
            )),
        },
    )
    .await;
    if live && !matches!(result, Err(NetError::Unreachable { .. })) {
        let _ = listener.events.send(session::NodeEvent::Ended {
            alliance: shared.id,
            device: *device,
            error: result.as_ref().err().map(|e| e.to_string()),
        });
    }
    shared.save_peer_sync(device, &sync);
    match &result {
        Ok((_, addrs)) => {
            let mut all = addrs.clone();
            all.extend(info.addrs.iter().cloned());
            shared.record_contact(device, &all, Ok(()), now)?;
        }
        Err(e) => {
            let _ = shared.record_contact(device, &[], Err(&e.to_string()), now);
        }
    }
    result.map(|(r, _)| r)
}

/// Joins an alliance with a ticket: dials the inviting device, proves the invite, and receives
/// the whole alliance, verified. Nothing is stored here: the caller stores the result only if
/// the join succeeded.
pub async fn join(
    endpoint: &Endpoint,
    ticket: &InviteTicket,
    name: &str,
    my_addrs: Vec<String>,
) -> Result<(Replica, SessionReport, Vec<String>), NetError> {
    join_reporting(endpoint, ticket, name, my_addrs, None).await
}

/// [`join`], reporting how receiving the alliance is going to `progress`.
pub async fn join_reporting(
    endpoint: &Endpoint,
    ticket: &InviteTicket,
    name: &str,
    my_addrs: Vec<String>,
    progress: Option<session::OnProgress>,
) -> Result<(Replica, SessionReport, Vec<String>), NetError> {
    let id = crate::core::AllianceId(automerge::ChangeHash(ticket.alliance));
    let mut target = Replica::empty(id);
    let mut sync = PeerSync::new();
    let (report, addrs) = session::dial(
        endpoint,
        ticket.inviter.clone(),
        Dial {
            alliance: id,
            join: Some(JoinRequest {
                secret: ticket.secret,
                name: name.to_string(),
            }),
            hand_over: None,
            live: false,
            my_addrs,
            target: &mut target,
            sync: &mut sync,
            fresh: None,
            events: None,
            progress,
        },
    )
    .await?;
    Ok((target, report, addrs))
}

/// Stores an alliance received by [`join`]: a snapshot of the verified replica, and the
/// inviting device's addresses in the address book. Fails (writing nothing) if the alliance is
/// already here.
pub fn save_join(
    home: &crate::store::Home,
    replica: &Replica,
    inviter: &DeviceId,
    inviter_addrs: &[String],
    now: Timestamp,
) -> Result<crate::core::AllianceId, NetError> {
    home.create_alliance_from(replica, None)?;
    let id = replica.id();
    let open = home.open(&id, crate::store::LockMode::Exclusive)?;
    open.update_peer_book(|book| book.seen(&inviter.to_hex(), inviter_addrs, None, now))?;
    Ok(id)
}

/// Records a new invite on the inviting device (only the hash of its secret is kept).
pub fn add_invite(
    open: &crate::store::OpenAlliance,
    invite: crate::core::invite::Invite,
) -> Result<(), NetError> {
    open.update_invites(|invites| {
        invites.invites.push(invite);
        Ok::<_, NetError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(i: u8) -> DeviceId {
        DeviceKey::from_seed([i; 32]).device_id()
    }

    #[test]
    fn a_failed_dial_to_an_old_address_does_not_hide_a_session_the_peer_dialled() {
        let (presence, ben) = (Presence::default(), device(2));
        assert!(presence.claim(ben), "nothing runs with Ben: dial");
        presence.enter(ben); // meanwhile Ben dialled us, and is welcome
        assert!(!presence.claim(ben), "a session runs: no second dial");
        presence.leave(&ben); // our dial to his old address failed
        assert_eq!(
            presence.devices(),
            vec![ben],
            "Ben's own session still runs"
        );
        presence.leave(&ben);
        assert!(presence.devices().is_empty());
        assert!(presence.claim(ben), "nothing runs any more: dial again");
    }

    #[test]
    fn only_a_dial_that_found_nobody_makes_the_next_wait_longer() {
        let mut backoff = BACKOFF_MIN;
        let mut waits = Vec::new();
        for _ in 0..3 {
            let wait;
            (wait, backoff) = Redial::AfterFailedDial.wait(backoff);
            waits.push(wait);
        }
        assert_eq!(waits, [BACKOFF_MIN, BACKOFF_MIN * 2, BACKOFF_MIN * 4]);
        // Connected the other way round while the backoff was long: look again soon, and the
        // next failed dial starts from the shortest wait.
        assert_eq!(
            Redial::WhileConnected.wait(backoff),
            (BACKOFF_MIN, BACKOFF_MIN)
        );
        assert_eq!(
            Redial::AfterSession.wait(BACKOFF_MAX),
            (BACKOFF_MIN, BACKOFF_MIN)
        );
        assert_eq!(
            Redial::AfterFailedDial.wait(BACKOFF_MAX),
            (BACKOFF_MAX, BACKOFF_MAX)
        );
    }
}
