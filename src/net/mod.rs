//! Peer-to-peer sync over iroh: the edge around the I/O-free core.
//!
//! - [`endpoint`]: the device's iroh endpoint (its device key is the endpoint key).
//! - [`wire`]: length-prefixed frames with size limits.
//! - [`ticket`]: invite tickets.
//! - [`session`]: the driver of a connection: the handshake's reads and writes, then a
//!   [`crate::proto::session::Session`] fed with frames, fresh changes and its timer.
//! - [`target`]: the store's [`SharedAlliance`](crate::store::shared::SharedAlliance) as a
//!   session's target (a thin adapter: the steps themselves are the store's).
//! - [`node`]: a running device: accepts connections, dials peers, watches the store.
//!
//! See `docs/protocol.md` for the handshake and what is verified where.

pub mod endpoint;
pub mod node;
pub mod session;
pub mod target;
pub mod ticket;
pub mod wire;

use crate::core::sync::SyncError;
use crate::store::StoreError;

/// Errors of the network layer. Messages say what happened and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot start networking: {0}")]
    Bind(String),
    #[error("could not reach {peer}: {reason}")]
    Unreachable { peer: String, reason: String },
    #[error("{peer} refused the connection: {reason}")]
    Refused { peer: String, reason: String },
    #[error("refused {peer}: {reason}")]
    RefusedPeer { peer: String, reason: String },
    #[error("{peer} sent changes that failed verification and was disconnected: {source}")]
    BadChanges {
        peer: String,
        #[source]
        source: SyncError,
    },
    #[error("{peer} rejected our changes: {reason}")]
    PeerRejected { peer: String, reason: String },
    #[error("{peer} broke the protocol: {reason}")]
    Protocol { peer: String, reason: String },
    #[error("{peer} did not answer in time ({what})")]
    Timeout { peer: String, what: &'static str },
    #[error("connection to {peer} failed: {reason}")]
    Connection { peer: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}; the device goes on (please report this as a bug)")]
    Internal(String),
    #[error("{peer} is quarantined until {until}: {reason}")]
    Quarantined {
        peer: String,
        until: String,
        reason: String,
    },
}

/// A replica in memory never fails on its own (see [`crate::proto::session::Target`]).
impl From<std::convert::Infallible> for NetError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl NetError {
    /// Whether the peer sent data that made Automerge panic (quarantine it).
    pub fn is_hostile(&self) -> bool {
        matches!(self, NetError::BadChanges { source, .. } if source.is_hostile())
    }
}
