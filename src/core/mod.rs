//! The I/O-free core: identity, signed changes, the alliance document and the replica that
//! guards it. Nothing here reads a clock, the disk, the network or an OS random source: time and
//! randomness come in as arguments, and what should be persisted comes out as data
//! ([`SignedChange<Verified>`] values for the store to write).

pub mod conflicts;
pub mod diff;
pub mod edit;
pub mod equivocation;
pub mod guard;
pub mod history;
pub mod identity;
pub mod ids;
pub mod index;
pub mod invite;
pub mod model;
pub mod peers;
pub mod raw;
pub mod replay;
pub mod replica;
pub mod rules;
pub mod signed;
pub mod status;
pub mod sync;
pub mod text;
pub mod text_conflicts;
pub mod verdicts;
pub mod vouch;

pub use edit::{Edited, NewCheckIn, Splice};
pub use identity::{DeviceId, DeviceKey};
pub use ids::{Entropy, ItemId, ItemKind, SeededEntropy, Timestamp};
pub use model::AllianceView;
pub use replica::{
    AllianceId, ChangeCheck, EditError, LogEntry, ReceiveError, Received, Replica, Writer,
};
pub use signed::{ChangeError, SignedChange, Unverified, Verified};
