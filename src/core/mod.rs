//! The I/O-free core: identity, signed changes, the alliance document and the replica that
//! guards it. Nothing here reads a clock, the disk, the network or an OS random source: time and
//! randomness come in as arguments, and what should be persisted comes out as data
//! ([`SignedChange<Verified>`] values for the store to write).
//!
//! Two rooms, and where they meet:
//! - [`trust`]: who wrote a change and whether they could: identities, the raw header, signed
//!   changes and what vouches for them, equivocations, the rules of who may write what,
//!   verdicts of earlier checks, and the guard around Automerge calls on outside data;
//! - [`document`]: what the family writes and how they review it: the schema, the edits of
//!   each step, texts, conflicts and text conflicts, history, replay, diffs and status;
//! - [`replica`]: where they meet, the document with its signatures, the only way changes get
//!   in; [`sync`] plans the exchange between two replicas;
//! - [`ids`]: the words every room uses (time, randomness, item IDs); [`invite`] and
//!   [`peers`]: device-local records, never synced.
//!
//! Imports go one way: `document` -> `replica` -> `trust`, and `document` -> `trust`. `trust`
//! imports nothing from `replica` or `document` except the schema's keys and readers
//! ([`document::model`]), which the rules judge paths by; `model` imports nothing from `trust`.
//! The replica reads the schema ([`document::model`]), the text checks ([`document::text`]) and
//! the history index ([`document::index`], to work out vouchers from it); none of those
//! imports the file that uses it.
//!
//! Every module keeps its old path (`core::signed`, `core::edit`, ...) through the re-exports
//! below.

pub mod document;
pub mod ids;
pub mod invite;
pub mod peers;
pub mod replica;
pub mod sync;
pub mod trust;

pub use document::{
    calendar, conflicts, diff, edit, history, index, model, reminders, replay, seed, status, text,
    text_conflicts,
};
pub use trust::{equivocation, guard, identity, raw, rules, signed, verdicts, vouch};

pub use edit::{Edited, NewCheckIn, Splice};
pub use identity::{DeviceId, DeviceKey};
pub use ids::{Entropy, ItemId, ItemKind, SeededEntropy, Timestamp};
pub use model::AllianceView;
pub use replica::{
    AllianceId, ChangeCheck, EditError, LogEntry, ReceiveError, Received, Replica, Writer,
};
pub use signed::{ChangeError, SignedChange, Unverified, Verified};
