//! A keeper: an always-on device of no person that holds every alliance it was handed and
//! forwards what members sign, so that devices that are never awake at the same time still
//! meet (docs/keeper.md). It verifies everything it receives exactly as a member device does
//! (the same sessions, the same `Replica`), and authors nothing: every device refuses a change
//! a keeper signed (docs/schema.md).
//!
//! Its home is `HOME/keeper` (a home of its own: a machine can run a member's `app` and a
//! keeper side by side). An alliance is loaded when a device asks for it and dropped from
//! memory when nothing has used it for a while (its files hold everything: each received
//! batch is persisted before it is acknowledged). While one is loaded, the keeper syncs it
//! with the alliance's other keepers whenever something new arrives.
//!
//! The member's side is here too: adding a keeper (`keeper add`, the page's People), listing
//! and removing keepers, and what a keeper holds of this device's changes (`status`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::core::sync::PeerSync;
use crate::core::{AllianceId, DeviceId, DeviceKey, Timestamp};
use crate::device::{DeviceError, Result};
use crate::net::endpoint::NetConfig;
use crate::net::node::{Dialer, Node};
use crate::net::session::{Keeping, Listener, NodeEvent};
use crate::net::ticket::KeeperTicket;
use crate::proto::session::Fresh;
use crate::store::shared::SharedAlliance;
use crate::store::{
    HeldAlliance, HeldDevice, Home, KeeperFile, KeeperStatus, LockMode, ServeInfo, Serving,
};

/// The folder of a home where its keeper lives.
pub const KEEPER_DIR: &str = "keeper";

/// How long an alliance nobody uses stays in a keeper's memory.
pub const IDLE: Duration = Duration::from_secs(60);

/// How often a running keeper looks at what it holds (new loads, idle ones, its status file).
const TICK: Duration = Duration::from_millis(250);

/// The keeper's home beside a member's home.
pub fn keeper_home(home: &Home) -> Home {
    Home::new(home.root().join(KEEPER_DIR))
}

/// Sets up a keeper's home once: its device key and the secret of its ticket. `name` is what
/// it calls itself in its ticket. Returns whether it was set up now.
pub fn set_up(home: &Home, name: &str, seed: [u8; 32], secret: [u8; 32]) -> Result<bool> {
    let name = crate::core::document::text::check_name(name).map_err(DeviceError::user)?;
    let created = matches!(
        home.init(&name, seed)?,
        crate::store::InitOutcome::Created(_)
    );
    home.save_keeper_file(&KeeperFile {
        secret: hex::encode(secret),
    })?;
    Ok(created)
}

/// The keeper's ticket, with the addresses its running node announced (none when it does not
/// run: then say so).
pub fn ticket(home: &Home) -> Result<KeeperTicket> {
    let identity = home.identity().map_err(|_| not_set_up())?;
    let secret = secret_of(home)?;
    let Some(info) = home.running_serve() else {
        return Err(DeviceError::user(
            "the keeper is not running; start it with `alliance keeper` (its first run prints the ticket)",
        ));
    };
    Ok(ticket_of(&identity.key, &identity.name, &info, secret))
}

fn ticket_of(key: &DeviceKey, name: &str, info: &ServeInfo, secret: [u8; 32]) -> KeeperTicket {
    KeeperTicket {
        keeper: crate::net::endpoint::addr_for(&key.device_id(), &info.addrs, None),
        name: name.to_string(),
        secret,
    }
}

fn secret_of(home: &Home) -> Result<[u8; 32]> {
    home.keeper_file()?
        .and_then(|f| f.secret_bytes())
        .ok_or_else(not_set_up)
}

fn not_set_up() -> DeviceError {
    DeviceError::user("this device runs no keeper yet; start one with `alliance keeper`")
}

/// A running keeper.
pub struct Keeper {
    pub home: Home,
    node: Node,
    status: Arc<RwLock<KeeperStatus>>,
    ticket: KeeperTicket,
    tasks: tokio::task::JoinSet<()>,
    _serving: Serving,
}

impl Keeper {
    /// Starts the keeper of `home` (set up with [`set_up`]): binds, announces its addresses,
    /// serves every alliance it holds as devices ask for them, takes alliances handed over
    /// with its secret, and drops from memory those idle for `idle`.
    pub async fn start(home: Home, config: NetConfig, idle: Duration) -> Result<Keeper> {
        let identity = home.identity().map_err(|_| not_set_up())?;
        let secret = secret_of(&home)?;
        let Some(serving) = home.claim_serving()? else {
            return Err(DeviceError::user(format!(
                "a keeper runs from {} already{}; stop it first",
                home.root().display(),
                home.running_serve()
                    .map(|i| format!(" (process {})", i.pid))
                    .unwrap_or_default()
            )));
        };
        let entropy = crate::system::entropy("keeper").map_err(DeviceError::user)?;
        let key = DeviceKey::from_seed(identity.key.to_seed());
        let node = match Node::start(key, &config, Vec::new(), entropy, crate::system::now).await {
            Ok(n) => n,
            // The port used last time is taken: take any.
            Err(_) if config.bind.is_some() => {
                let mut any = config.clone();
                any.bind = None;
                let entropy = crate::system::entropy("keeper").map_err(DeviceError::user)?;
                let key = DeviceKey::from_seed(identity.key.to_seed());
                Node::start(key, &any, Vec::new(), entropy, crate::system::now).await?
            }
            Err(e) => return Err(e.into()),
        };
        let info = ServeInfo {
            device: node.device().to_hex(),
            addrs: node.addrs(),
            pid: std::process::id(),
        };
        home.announce_serve(&info)?;
        let mut held = home.keeper_status();
        // Alliances on disk the status file does not know (it was lost): listed once, so
        // that their devices are known before they are loaded.
        for id in home.alliance_ids()? {
            if !held.alliances.contains_key(&id.to_string())
                && let Ok(open) = home.open(&id, LockMode::Shared)
            {
                let shared = SharedAlliance::new(open);
                held.alliances.insert(
                    id.to_string(),
                    describe(&shared, &identity.key.device_id(), false),
                );
            }
        }
        for a in held.alliances.values_mut() {
            a.loaded = false;
        }
        let _ = home.save_keeper_status(&held);
        let status = Arc::new(RwLock::new(held));
        node.find_with(finder(home.clone()));
        node.listener.keep_with(Keeping {
            secret,
            adopt: adopter(home.clone()),
            knows: {
                let status = status.clone();
                Box::new(move |device: &DeviceId| {
                    let hex = device.to_hex();
                    status
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .alliances
                        .values()
                        .any(|a| a.devices.contains_key(&hex))
                })
            },
        });
        let ticket = ticket_of(&identity.key, &identity.name, &info, secret);
        let mut keeper = Keeper {
            home,
            node,
            status,
            ticket,
            tasks: tokio::task::JoinSet::new(),
            _serving: serving,
        };
        keeper.spawn_watch(idle);
        Ok(keeper)
    }

    /// The keeper's ticket, for an admin to add it.
    pub fn ticket(&self) -> &KeeperTicket {
        &self.ticket
    }

    pub fn device(&self) -> DeviceId {
        self.node.device()
    }

    /// Its listener: the alliances in memory now, as a session finds them.
    pub fn listener(&self) -> Arc<Listener> {
        self.node.listener.clone()
    }

    /// What happens to the keeper's connections.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.node.events()
    }

    /// The alliances in memory now.
    pub fn loaded(&self) -> Vec<Arc<SharedAlliance>> {
        self.node.alliances()
    }

    /// What the keeper holds, as its status file says it.
    pub fn status(&self) -> KeeperStatus {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The watcher: picks up alliances as they load (and syncs them with their other keepers
    /// whenever something new arrives), drops idle ones, keeps the status file.
    fn spawn_watch(&mut self, idle: Duration) {
        let listener = self.node.listener.clone();
        let dialer = self.node.dialer();
        let (home, status) = (self.home.clone(), self.status.clone());
        let me = self.node.device();
        let mut events = listener.events.subscribe();
        self.tasks.spawn(async move {
            let mut watched: HashMap<AllianceId, Option<Instant>> = HashMap::new();
            let mut forwarding = tokio::task::JoinSet::new();
            loop {
                tokio::time::sleep(TICK).await;
                let now = Instant::now();
                let loaded: Vec<AllianceId> = listener.alliances().iter().map(|a| a.id).collect();
                // What to describe again: alliances a session touched since the last look
                // (the status file is rewritten only when something happened).
                let mut dirty: HashSet<AllianceId> = HashSet::new();
                loop {
                    match events.try_recv() {
                        Ok(event) => dirty.extend(alliance_of(&event)),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                            dirty.extend(loaded.iter().copied())
                        }
                        Err(_) => break,
                    }
                }
                for id in &loaded {
                    if !watched.contains_key(id)
                        && let Some(shared) = listener.alliance(id)
                    {
                        tracing::info!(alliance = %id, "loaded");
                        forwarding.spawn(forward_to_keepers(
                            dialer.clone(),
                            Arc::downgrade(&shared),
                            shared.fresh(),
                            me,
                        ));
                        dirty.insert(*id);
                        watched.insert(*id, None);
                    }
                }
                let mut changed = false;
                for id in loaded {
                    let idle_since = watched.entry(id).or_default();
                    if in_use(&listener, &id) {
                        *idle_since = None;
                        continue;
                    }
                    let since = *idle_since.get_or_insert(now);
                    if now.duration_since(since) < idle {
                        continue;
                    }
                    // Its final state, then out of memory.
                    if let Some(shared) = listener.alliance(&id) {
                        update(&status, &shared, &me, false);
                    }
                    if listener.release_if_idle(&id) {
                        tracing::info!(alliance = %id, "idle: written back and dropped from memory");
                        watched.remove(&id);
                        dirty.remove(&id);
                        changed = true;
                    } else {
                        dirty.insert(id);
                    }
                }
                for id in dirty {
                    if let Some(shared) = listener.alliance(&id) {
                        update(&status, &shared, &me, true);
                        changed = true;
                    }
                }
                while forwarding.try_join_next().is_some() {}
                if changed {
                    let snapshot = status.read().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Err(e) = home.save_keeper_status(&snapshot) {
                        tracing::warn!(error = %e, "cannot write the keeper's status");
                    }
                }
            }
        });
    }

    /// Saves what it knows and stops (SIGTERM): every received change was persisted when it
    /// was acknowledged already.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let me = self.node.device();
        for shared in self.node.alliances() {
            update(&self.status, &shared, &me, false);
        }
        let snapshot = self.status();
        let _ = self.home.save_keeper_status(&snapshot);
        self.node.shutdown().await;
        let _ = self.home.clear_serve_announcement();
    }
}

/// The alliance a node event is about.
fn alliance_of(event: &NodeEvent) -> Option<AllianceId> {
    match event {
        NodeEvent::Connected { alliance, .. }
        | NodeEvent::Ended { alliance, .. }
        | NodeEvent::Received { alliance, .. }
        | NodeEvent::HandedOver { alliance, .. } => Some(*alliance),
        NodeEvent::Refused { .. } => None,
    }
}

/// Whether anything but the listener's list holds alliance `id` (a session, a sync with
/// another keeper). The watcher's own look is let go of before counting.
fn in_use(listener: &Listener, id: &AllianceId) -> bool {
    listener
        .alliances()
        .iter()
        .find(|a| a.id == *id)
        // The list's own reference and the clone `alliances()` just made.
        .is_some_and(|a| Arc::strong_count(a) > 2)
}

/// Opens an alliance this keeper holds when a device asks for it.
fn finder(home: Home) -> crate::net::session::Finder {
    Box::new(move |id: &AllianceId| {
        if !home.alliance_ids().ok()?.contains(id) {
            return None;
        }
        match home.open(id, LockMode::Shared) {
            Ok(open) => Some(SharedAlliance::new(open)),
            Err(e) => {
                tracing::warn!(alliance = %id, error = %e, "cannot open an alliance a device asked for");
                None
            }
        }
    })
}

/// Stores an alliance handed over to this keeper (whole and verified; the session checked
/// that it names this keeper) with the handing device's addresses, and opens it.
fn adopter(home: Home) -> crate::net::session::Adopter {
    Box::new(move |replica, from, addrs| {
        let id = replica.id();
        if !home
            .alliance_ids()
            .map_err(|e| e.to_string())?
            .contains(&id)
        {
            home.create_alliance_from(&replica, None)
                .map_err(|e| e.to_string())?;
        }
        let open = home
            .open(&id, LockMode::Exclusive)
            .map_err(|e| e.to_string())?;
        let now = crate::system::now();
        open.update_peer_book(|book| book.seen(&from.to_hex(), addrs, None, now))
            .map_err(|e| e.to_string())?;
        drop(open);
        let open = home
            .open(&id, LockMode::Shared)
            .map_err(|e| e.to_string())?;
        tracing::info!(alliance = %id, "took an alliance handed over by an admin");
        Ok(SharedAlliance::new(open))
    })
}

/// While an alliance is loaded: syncs it once with its other keepers, then again whenever
/// something new entered it (a moment later, so that a burst goes as one sync). Ends when the
/// alliance is dropped from memory.
async fn forward_to_keepers(
    dialer: Dialer,
    alliance: Weak<SharedAlliance>,
    mut fresh: tokio::sync::broadcast::Receiver<Fresh>,
    me: DeviceId,
) {
    loop {
        {
            let Some(shared) = alliance.upgrade() else {
                return;
            };
            let keepers = other_keepers(&shared, &me);
            if !keepers.is_empty() {
                for outcome in dialer.sync_once(&shared, &keepers).await {
                    if let Err(e) = outcome.result {
                        tracing::debug!(keeper = %outcome.device.short(), error = %e, "another keeper was not reached");
                    }
                }
            }
        }
        match fresh.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        while fresh.try_recv().is_ok() {}
    }
}

/// The alliance's keepers other than `me`.
fn other_keepers(shared: &SharedAlliance, me: &DeviceId) -> Vec<DeviceId> {
    shared
        .with(LockMode::Shared, |o| {
            let replica = o.replica();
            Ok(replica
                .peer_devices(me)
                .into_iter()
                .filter(|d| replica.is_keeper(d))
                .collect::<Vec<_>>())
        })
        .unwrap_or_default()
}

/// Writes what `shared` holds into the status.
fn update(status: &RwLock<KeeperStatus>, shared: &SharedAlliance, me: &DeviceId, loaded: bool) {
    let held = describe(shared, me, loaded);
    status
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .alliances
        .insert(shared.id.to_string(), held);
}

/// What a keeper holds of one alliance: its devices, when each last synced here, and how many
/// of the changes held here each is not known to have.
fn describe(shared: &SharedAlliance, me: &DeviceId, loaded: bool) -> HeldAlliance {
    let read = shared.with(LockMode::Shared, |o| {
        let replica = o.replica();
        let roster = replica.roster();
        let book = o.peer_book()?;
        let mut devices = BTreeMap::new();
        for d in &roster.devices {
            let Ok(device) = d.key.parse::<DeviceId>() else {
                continue;
            };
            if device == *me || !replica.is_peer(&device) {
                continue;
            }
            let sync = o
                .sync_state(&d.key)?
                .map(|b| PeerSync::decode(&b))
                .unwrap_or_default();
            let waiting = missing_from(replica.doc(), sync.shared_heads());
            devices.insert(
                d.key.clone(),
                HeldDevice {
                    name: if d.keeper {
                        d.name.clone()
                    } else {
                        roster.name_of(&d.member)
                    },
                    keeper: d.keeper,
                    last_sync: book.peers.get(&d.key).and_then(|p| p.last_seen),
                    waiting,
                },
            );
        }
        Ok(HeldAlliance {
            title: roster.title.clone(),
            changes: replica.len(),
            loaded,
            devices,
        })
    });
    read.unwrap_or_default()
}

/// How many changes of `doc` are not in the past of `heads` (all of them when `heads` is
/// empty or unknown here). Read from the changes' metadata: no change is rebuilt.
pub fn missing_from(doc: &automerge::Automerge, heads: &[automerge::ChangeHash]) -> usize {
    if heads
        .iter()
        .any(|h| doc.get_change_meta_by_hash(h).is_none())
    {
        return doc.get_changes_meta(&[]).len();
    }
    doc.get_changes_meta(heads).len()
}

// ---------------------------------------------------------------------------------------------
// The member's side.

/// One keeper of an alliance, as members see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeeperEntry {
    pub name: String,
    pub device: String,
    /// The person who added it.
    pub added_by: String,
    pub added_at: Timestamp,
    /// When this device last synced with it.
    pub last_sync: Option<Timestamp>,
    /// How many of this device's person's changes it lacks, as far as this device knows
    /// (`None`: this device never synced with it).
    pub missing: Option<usize>,
}

/// Whether a keeper has this device's person's changes, in words.
pub fn holds_in_words(missing: Option<usize>) -> String {
    match missing {
        None => "not synced with it yet".into(),
        Some(0) => "it has everything you wrote".into(),
        Some(1) => "1 of your changes has not reached it yet".into(),
        Some(n) => format!("{n} of your changes have not reached it yet"),
    }
}

/// A systemd unit that runs the keeper of `home` (its keeper lives in `home/keeper`) with the
/// binary `exe`, restarted if it stops, stopped with SIGTERM (it saves and stops).
pub fn systemd_unit(exe: &str, home: &std::path::Path) -> String {
    format!(
        "# /etc/systemd/system/alliance-keeper.service (or ~/.config/systemd/user/)\n\
         # then: systemctl enable --now alliance-keeper\n\
         [Unit]\n\
         Description=alliance keeper: an always-on home for your alliances\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         ExecStart={exe} --home {home} keeper\n\
         Restart=on-failure\n\
         KillSignal=SIGTERM\n\
         # Relays and address lookup let members on other networks reach it:\n\
         # Environment=ALLIANCE_RELAY=default\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        home = home.display()
    )
}

/// The keepers of the alliance open in `open` (not removed), with what each holds of this
/// device's person's changes (the same count `status` shows).
pub fn keepers(
    open: &crate::store::OpenAlliance,
    identity: &crate::store::Identity,
) -> Result<Vec<KeeperEntry>> {
    let me = crate::device::steps::me(open, identity)?;
    let roster = open.replica().roster();
    Ok(crate::device::steps::keepers(open, &me)?
        .into_iter()
        .filter_map(|k| {
            let d = roster.device(&k.device)?;
            Some(KeeperEntry {
                added_by: roster
                    .member_of_device(&d.added_by)
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
                added_at: d.added_at,
                name: k.name,
                device: k.device,
                last_sync: k.last_sync,
                missing: k.missing,
            })
        })
        .collect())
}

/// What [`add`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Added {
    pub name: String,
    pub device: String,
    /// Whether the change that adds it was made now (`false`: it was added before, and this
    /// was a second try at handing it the alliance).
    pub added_now: bool,
    /// Changes the keeper took in the hand-over.
    pub sent: usize,
}

/// Adds the keeper of `ticket` to alliance `id` (an admin), named `name` or as it calls
/// itself, then hands it the alliance. Adding twice only hands it over again (after a keeper
/// that was not reachable the first time).
#[allow(clippy::too_many_arguments)]
pub async fn add(
    home: &Home,
    identity: &crate::store::Identity,
    id: &AllianceId,
    ticket: &str,
    name: Option<&str>,
    net: &NetConfig,
    entropy: &mut (dyn crate::core::Entropy + Send),
    now: Timestamp,
) -> Result<Added> {
    let ticket = parse_ticket(ticket)?;
    let (name, added_now) = {
        let mut open = home.open(id, LockMode::Exclusive)?;
        add_entry(&mut open, identity, &ticket, name, entropy, now)?
    };
    let shared = SharedAlliance::new(home.open(id, LockMode::Shared)?);
    let seed = identity.key.to_seed();
    let node_entropy = crate::system::entropy("keeper-add").map_err(DeviceError::user)?;
    let node = Node::start(
        DeviceKey::from_seed(seed),
        net,
        vec![shared.clone()],
        node_entropy,
        crate::system::now,
    )
    .await?;
    let handed = node.hand_over(&shared, &ticket).await;
    node.shutdown().await;
    handed_over(name, &ticket, added_now, handed)
}

/// Parses a keeper ticket as a person pasted it.
pub fn parse_ticket(ticket: &str) -> Result<KeeperTicket> {
    ticket
        .trim()
        .parse()
        .map_err(|e: crate::net::ticket::BadKeeperTicket| DeviceError::user(e.to_string()))
}

/// The first half of adding a keeper (an admin), on the alliance open for writing: its entry
/// in the document (unless it is there already) and its addresses in the address book. Returns its name and whether it was added now.
pub fn add_entry(
    open: &mut crate::store::OpenAlliance,
    identity: &crate::store::Identity,
    ticket: &KeeperTicket,
    name: Option<&str>,
    entropy: &mut dyn crate::core::Entropy,
    now: Timestamp,
) -> Result<(String, bool)> {
    let keeper = crate::net::endpoint::device_of(&ticket.keeper.id);
    if keeper == identity.key.device_id() {
        return Err(DeviceError::user(
            "that ticket is this device's own; a keeper runs from its own home (`alliance keeper` keeps it under HOME/keeper)",
        ));
    }
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&ticket.name)
        .to_string();
    let addrs: Vec<std::net::SocketAddr> = ticket.keeper.ip_addrs().copied().collect();
    let already = open.replica().is_keeper(&keeper);
    if !already {
        crate::device::steps::edit_on(open, identity, entropy, now, |r, w, _| {
            Ok(r.add_keeper(w, &keeper, &name, &addrs)?)
        })?;
    }
    let listed: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    open.update_peer_book(|book| book.learn(&keeper.to_hex(), &listed, None))?;
    Ok((name, !already))
}

/// The second half: what handing the alliance over came to, in words.
pub fn handed_over(
    name: String,
    ticket: &KeeperTicket,
    added_now: bool,
    handed: std::result::Result<crate::net::session::SessionReport, crate::net::NetError>,
) -> Result<Added> {
    let keeper = crate::net::endpoint::device_of(&ticket.keeper.id);
    match handed {
        Ok(report) => Ok(Added {
            name,
            device: keeper.to_hex(),
            added_now,
            sent: report.sent,
        }),
        Err(e) => Err(DeviceError::user(format!(
            "the keeper \"{name}\" {} this alliance, but it could not take it yet ({e}); start it (`alliance keeper` on its machine) and add it again",
            if added_now { "was added to" } else { "is in" }
        ))),
    }
}

/// Removes a keeper (an admin), named by its name or the start of its key. Final: it is
/// refused from now on and receives nothing new, and its key can never be added again.
pub fn remove(
    open: &mut crate::store::OpenAlliance,
    identity: &crate::store::Identity,
    entropy: &mut dyn crate::core::Entropy,
    now: Timestamp,
    which: &str,
) -> Result<crate::core::Edited> {
    let which = which.trim();
    let roster = open.replica().roster();
    let found: Vec<_> = roster
        .devices
        .iter()
        .filter(|d| d.keeper && d.removed.is_none())
        .filter(|d| d.name == which || (which.len() >= 6 && d.key.starts_with(which)))
        .collect();
    let device = match found.as_slice() {
        [one] => one
            .key
            .parse::<DeviceId>()
            .map_err(|e| DeviceError::user(e.to_string()))?,
        [] => {
            return Err(DeviceError::user(format!(
                "no keeper called \"{which}\" in this alliance; `alliance keeper list` shows them"
            )));
        }
        _ => {
            return Err(DeviceError::user(format!(
                "several keepers are called \"{which}\"; name one by the start of its key (`alliance keeper list`)"
            )));
        }
    };
    crate::device::steps::edit_on(open, identity, entropy, now, |r, w, _| {
        Ok(r.remove_device(w, &device)?)
    })
}
