//! A running device: its endpoint, the alliances it serves, and the tasks that accept
//! connections, keep live sessions with the other member devices, and watch the store for
//! edits made by other `alliance` commands.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::Endpoint;
use tokio::task::JoinSet;

use crate::core::Replica;
use crate::core::sync::PeerSync;
use crate::core::{DeviceId, DeviceKey, Entropy, Timestamp};
use crate::net::NetError;
use crate::net::endpoint::{NetConfig, addr_for, bind, direct_addrs};
use crate::net::session::{self, Dial, Listener, SessionReport};
use crate::net::shared::SharedAlliance;
use crate::net::ticket::InviteTicket;
use crate::net::wire::JoinRequest;
use crate::protocol::MAX_STRANGER_CONNECTIONS;

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
    connected: Arc<Mutex<HashSet<DeviceId>>>,
}

/// The outcome of syncing with one peer.
#[derive(Debug)]
pub struct PeerOutcome {
    pub device: DeviceId,
    pub result: Result<SessionReport, NetError>,
}

impl Node {
    /// Binds the endpoint and starts accepting connections for `alliances`.
    pub async fn start(
        key: DeviceKey,
        config: &NetConfig,
        alliances: Vec<Arc<SharedAlliance>>,
        entropy: Box<dyn Entropy + Send>,
        now: fn() -> Timestamp,
    ) -> Result<Node, NetError> {
        let endpoint = bind(&key, config).await?;
        let listener = Arc::new(Listener {
            events: tokio::sync::broadcast::channel(session::EVENT_BACKLOG).0,
            lookup: config.finds_by_key(),
            key,
            alliances,
            my_addrs: direct_addrs(&endpoint),
            entropy: Mutex::new(entropy),
            now,
        });
        let mut node = Node {
            endpoint,
            listener,
            tasks: JoinSet::new(),
            connected: Arc::default(),
        };
        node.spawn_accept_loop();
        Ok(node)
    }

    pub fn device(&self) -> DeviceId {
        self.listener.key.device_id()
    }

    pub fn addrs(&self) -> Vec<String> {
        self.listener.my_addrs.clone()
    }

    /// The devices with a session running right now (either direction).
    pub fn connected(&self) -> Vec<DeviceId> {
        self.connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Waits (at most `limit`) until the endpoint has a home relay, so it can be reached through
    /// it. Returns whether it has one.
    pub async fn wait_for_relay(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.endpoint.online())
            .await
            .is_ok()
    }

    /// Whether the endpoint is connected to a relay server right now.
    pub fn relay_connected(&self) -> bool {
        use iroh::Watcher;
        self.endpoint
            .home_relay_status()
            .get()
            .iter()
            .any(|s| s.is_connected())
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
                    connected.lock().unwrap_or_else(|p| p.into_inner()).insert(peer);
                    match session::accept(conn, listener).await {
                        Ok(r) => tracing::info!(peer = %peer.short(), sent = r.sent, received = r.received, "session ended"),
                        Err(e) => tracing::warn!(peer = %peer.short(), error = %e, "session failed"),
                    }
                    connected.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
                });
            }
        });
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
        let me = self.device();
        let book = shared.peer_book()?;
        let mut devices = shared.member_devices(&me)?;
        if let Some(only) = only {
            devices.retain(|d| only.contains(d));
        }
        // All at once: an unreachable device costs its connect timeout once, not once per
        // device before it.
        let mut tasks = JoinSet::new();
        for (i, device) in devices.into_iter().enumerate() {
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
        Ok(outcomes.into_iter().map(|(_, o)| o).collect())
    }

    /// Keeps a live session with every member device of `shared` that is not connected already,
    /// reconnecting with backoff, and picks up edits made by other commands on this device.
    pub fn keep_live(&mut self, shared: Arc<SharedAlliance>) {
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
        let Ok(devices) = shared.member_devices(&me) else {
            return;
        };
        for device in devices {
            let shared = shared.clone();
            let (endpoint, listener, connected) = (
                self.endpoint.clone(),
                self.listener.clone(),
                self.connected.clone(),
            );
            self.tasks.spawn(async move {
                let mut backoff = BACKOFF_MIN;
                loop {
                    // Claim the peer, unless a session with it (either direction) is running.
                    let claimed = connected.lock().unwrap_or_else(|p| p.into_inner()).insert(device);
                    if claimed {
                        let book = shared.peer_book().unwrap_or_default();
                        let r = sync_with(&endpoint, &listener, &shared, &device, &book, true, None).await;
                        connected.lock().unwrap_or_else(|p| p.into_inner()).remove(&device);
                        match r {
                            Ok(_) => backoff = BACKOFF_MIN,
                            Err(e) => tracing::debug!(peer = %device.short(), error = %e, "live session ended"),
                        }
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            });
        }
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
    let info = book
        .peers
        .get(&device.to_hex())
        .cloned()
        .unwrap_or_default();
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
            live,
            my_addrs: listener.my_addrs.clone(),
            target: &mut shared.as_ref(),
            sync: &mut sync,
            fresh: live.then(|| shared.fresh()),
            events: Some(listener.events.clone()),
            progress,
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
