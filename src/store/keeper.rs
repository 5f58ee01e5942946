//! A keeper's own files, beside its alliances: the secret of its ticket, and what it tells
//! `alliance keeper status` (alliances held, devices seen, changes waiting), written by the
//! running keeper. Both hints for the keeper alone; nothing here is synced.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::fsutil::{io, write_atomic};
use super::local::load_json;
use super::{Home, StoreError, layout};

/// The keeper's file ([`layout::KEEPER_FILE`]), readable by this user only (0600): the secret
/// of its ticket lets an admin hand it an alliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperFile {
    /// 64 hex characters.
    pub secret: String,
}

impl KeeperFile {
    /// The secret as bytes (`None` if the file was edited into something else).
    pub fn secret_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.secret).ok()?.try_into().ok()
    }
}

/// What a running keeper knows of the alliances it holds ([`layout::KEEPER_STATUS`]), for
/// `alliance keeper status` and for knowing the devices of alliances not loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperStatus {
    /// Alliance ID -> what it holds.
    pub alliances: BTreeMap<String, HeldAlliance>,
}

/// One alliance a keeper holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAlliance {
    pub title: String,
    /// Changes held.
    pub changes: usize,
    /// Whether it is in memory now (a member is connected, or was a moment ago).
    pub loaded: bool,
    /// The devices that sync with it (member devices and keepers), by key.
    pub devices: BTreeMap<String, HeldDevice>,
}

/// One device of an alliance a keeper holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDevice {
    /// Its person's name, or the keeper's name.
    pub name: String,
    pub keeper: bool,
    /// When it last synced with this keeper (Unix seconds).
    pub last_sync: Option<i64>,
    /// Changes held here that it is not known to have.
    pub waiting: usize,
}

impl Home {
    /// The keeper's file, if this home runs a keeper.
    pub fn keeper_file(&self) -> Result<Option<KeeperFile>, StoreError> {
        load_json(&self.root.join(layout::KEEPER_FILE))
    }

    /// Writes the keeper's file once (0600); an existing one stays.
    pub fn save_keeper_file(&self, file: &KeeperFile) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(layout::KEEPER_FILE);
        if path.exists() {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(file).expect("the keeper's file serialises");
        write_atomic(&path, &bytes, 0o600)
    }

    /// What the keeper last wrote of its alliances (empty when it never ran, or the file is
    /// damaged: it is rewritten as the keeper runs).
    pub fn keeper_status(&self) -> KeeperStatus {
        load_json(&self.root.join(layout::KEEPER_STATUS))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    pub fn save_keeper_status(&self, status: &KeeperStatus) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let bytes = serde_json::to_vec_pretty(status).expect("the keeper's status serialises");
        write_atomic(&self.root.join(layout::KEEPER_STATUS), &bytes, 0o644)
    }
}
