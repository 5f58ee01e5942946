//! This device online: its node and the alliances it serves. `serve` and the page (`app`)
//! share it; when the page sets the device up, founds or joins an alliance, the running node
//! serves it too.

use std::sync::{Arc, RwLock};

use crate::core::{AllianceId, DeviceKey};
use crate::device::{DeviceError, Result};
use crate::net::endpoint::NetConfig;
use crate::net::node::Node;
use crate::store::ServeInfo;
use crate::store::shared::SharedAlliance;
use crate::store::{Home, LockMode};

pub struct Online {
    pub home: Home,
    pub config: NetConfig,
    /// Serve only this alliance (`serve --alliance`); `None`: every one on the device.
    only: Option<AllianceId>,
    node: tokio::sync::Mutex<Option<Node>>,
    alliances: RwLock<Vec<Arc<SharedAlliance>>>,
    info: RwLock<Option<ServeInfo>>,
    online: RwLock<Vec<String>>,
}

impl Online {
    /// Starts the node if this device is set up and holds an alliance.
    pub async fn start(
        home: Home,
        config: NetConfig,
        only: Option<AllianceId>,
    ) -> Result<Arc<Online>> {
        let device = Arc::new(Online {
            home,
            config,
            only,
            node: tokio::sync::Mutex::new(None),
            alliances: RwLock::default(),
            info: RwLock::default(),
            online: RwLock::default(),
        });
        device.refresh().await?;
        Ok(device)
    }

    /// Picks up a new identity or new alliances: starts the node with every alliance, or has
    /// the running node serve the new ones (its live sessions go on). Alliances already open
    /// keep their [`SharedAlliance`] (pages are subscribed to it): the node's list is the one
    /// list, which also holds an alliance a peer asked for before this ran.
    pub async fn refresh(&self) -> Result<()> {
        let Ok(identity) = self.home.identity() else {
            return Ok(());
        };
        let mut ids = self.home.alliance_ids()?;
        if let Some(only) = &self.only {
            ids.retain(|i| i == only);
        }
        let mut node = self.node.lock().await;
        match node.as_mut() {
            Some(running) => {
                for id in &ids {
                    running.serve(id);
                }
                running.keep_all_live();
            }
            None if ids.is_empty() => return Ok(()),
            None => {
                let list = ids
                    .iter()
                    .map(|id| Ok(SharedAlliance::new(self.home.open(id, LockMode::Shared)?)))
                    .collect::<Result<Vec<_>>>()?;
                let (started, info) =
                    start_node(&self.home, &identity.key, list, self.only, &self.config).await?;
                *node = Some(started);
                *self.info.write().unwrap_or_else(|p| p.into_inner()) = Some(info);
            }
        }
        if let Some(running) = node.as_ref() {
            *self.alliances.write().unwrap_or_else(|p| p.into_inner()) = running.alliances();
        }
        Ok(())
    }

    /// What happens to the running node's connections, if it runs (a node restarted by
    /// [`Online::refresh`] has a stream of its own).
    pub async fn events(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::net::session::NodeEvent>> {
        self.node.lock().await.as_ref().map(|n| n.events())
    }

    pub fn alliances(&self) -> Vec<Arc<SharedAlliance>> {
        self.alliances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn alliance(&self, id: &AllianceId) -> Option<Arc<SharedAlliance>> {
        self.alliances().into_iter().find(|s| s.id == *id)
    }

    /// What the node announced (its device key and addresses), once it runs.
    pub fn info(&self) -> Option<ServeInfo> {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The devices connected right now (hex keys), as of the last [`Online::poll_online`].
    pub fn online(&self) -> Vec<String> {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Refreshes [`Online::online`]; returns whether it changed.
    pub async fn poll_online(&self) -> bool {
        let now: Vec<String> = match self.node.lock().await.as_ref() {
            Some(n) => {
                let mut v: Vec<String> = n.connected().iter().map(|d| d.to_hex()).collect();
                v.sort();
                v
            }
            None => Vec::new(),
        };
        let mut online = self.online.write().unwrap_or_else(|p| p.into_inner());
        let changed = *online != now;
        *online = now;
        changed
    }

    /// Hands alliance `id` to the keeper of `ticket` from the running node (see
    /// [`crate::device::keeper`]); an error in words when nothing runs.
    pub async fn hand_over(
        &self,
        id: &AllianceId,
        ticket: &crate::net::ticket::KeeperTicket,
    ) -> std::result::Result<crate::net::session::SessionReport, crate::net::NetError> {
        self.refresh().await.ok();
        let node = self.node.lock().await;
        let (Some(node), Some(shared)) = (node.as_ref(), self.alliance(id)) else {
            return Err(crate::net::NetError::Internal(
                "this device is not online yet".into(),
            ));
        };
        node.hand_over(&shared, ticket).await
    }

    /// Stops the node and withdraws its announcement.
    pub async fn stop(&self) {
        if let Some(node) = self.node.lock().await.take() {
            stop_node(&self.home, node).await;
        }
    }
}

/// Starts this device's node for `alliances`, as `serve` runs it: binds (the port used last
/// time, or any if that one is taken), announces its addresses in the home (so `invite` can
/// put them in tickets), and keeps a live session with every member device.
pub async fn start_node(
    home: &Home,
    key: &DeviceKey,
    alliances: Vec<Arc<SharedAlliance>>,
    only: Option<AllianceId>,
    config: &NetConfig,
) -> Result<(Node, ServeInfo)> {
    let start = |config: NetConfig| {
        let alliances = alliances.clone();
        let key = DeviceKey::from_seed(key.to_seed());
        async move {
            let entropy = crate::system::entropy("serve").map_err(DeviceError::user)?;
            Node::start(key, &config, alliances, entropy, crate::system::now)
                .await
                .map_err(DeviceError::from)
        }
    };
    let mut node = match start(config.clone()).await {
        Ok(n) => n,
        // The port used last time is taken: take any.
        Err(_) if config.bind.is_some_and(|b| b.ip().is_unspecified()) => {
            let mut any = config.clone();
            any.bind = None;
            start(any).await?
        }
        Err(e) => return Err(e),
    };
    let info = ServeInfo {
        device: node.device().to_hex(),
        addrs: node.addrs(),
        pid: std::process::id(),
    };
    // Without it `invite` makes no tickets; serving goes on regardless.
    let _ = home.announce_serve(&info);
    node.find_with(finder(home.clone(), only));
    node.keep_all_live();
    Ok((node, info))
}

/// How a running node finds an alliance of `home` it does not serve yet (created or joined by
/// another command since it started), when a peer asks for it: an invite made a moment after
/// `alliance new` works at once. With `only`, no other alliance is served.
fn finder(home: Home, only: Option<AllianceId>) -> crate::net::session::Finder {
    Box::new(move |id: &AllianceId| {
        if only.is_some_and(|o| o != *id) || !home.alliance_ids().ok()?.contains(id) {
            return None;
        }
        match home.open(id, LockMode::Shared) {
            Ok(open) => Some(SharedAlliance::new(open)),
            Err(e) => {
                tracing::warn!(alliance = %id, error = %e, "cannot open an alliance a peer asked for");
                None
            }
        }
    })
}

/// Stops a node started by [`start_node`] and withdraws its announcement.
pub async fn stop_node(home: &Home, node: Node) {
    node.shutdown().await;
    let _ = home.clear_serve_announcement();
}
