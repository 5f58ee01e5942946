//! A running device: its node (exactly as `alliance serve` runs it, see
//! [`crate::ops::start_node`]) and the alliances it holds. The page and `serve` share it; when
//! the page sets the device up, founds or joins an alliance, the node starts again with it.

use std::sync::{Arc, RwLock};

use crate::cli::error::Result;
use crate::core::AllianceId;
use crate::net::endpoint::NetConfig;
use crate::net::node::Node;
use crate::net::shared::SharedAlliance;
use crate::store::ServeInfo;
use crate::store::{Home, LockMode};

pub struct Device {
    pub home: Home,
    pub config: NetConfig,
    /// Serve only this alliance (`serve --alliance`); `None`: every one on the device.
    only: Option<AllianceId>,
    node: tokio::sync::Mutex<Option<Node>>,
    alliances: RwLock<Vec<Arc<SharedAlliance>>>,
    info: RwLock<Option<ServeInfo>>,
    online: RwLock<Vec<String>>,
}

impl Device {
    /// Starts the node if this device is set up and holds an alliance.
    pub async fn start(
        home: Home,
        config: NetConfig,
        only: Option<AllianceId>,
    ) -> Result<Arc<Device>> {
        let device = Arc::new(Device {
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
                let (started, info) = crate::ops::start_node(
                    &self.home,
                    &identity.key,
                    list,
                    self.only,
                    &self.config,
                )
                .await?;
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
    /// [`Device::refresh`] has a stream of its own).
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

    /// The devices connected right now (hex keys), as of the last [`Device::poll_online`].
    pub fn online(&self) -> Vec<String> {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Refreshes [`Device::online`]; returns whether it changed.
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

    /// Stops the node and withdraws its announcement.
    pub async fn stop(&self) {
        if let Some(node) = self.node.lock().await.take() {
            crate::ops::stop_node(&self.home, node).await;
        }
    }
}
