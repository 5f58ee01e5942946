//! A replica of one alliance: the Automerge document plus the signature of every change in it.
//!
//! The replica is the only place where changes enter a document, and it enforces the two rules
//! of the alliance on every way in:
//! 1. every change carries a valid signature of its author (checked by
//!    [`SignedChange::verify`](crate::core::SignedChange::verify));
//! 2. the author's device was a member of the alliance at that point of the history: the
//!    device is listed in `ROOT.devices` in the document *as of the change's dependencies*.
//!    The one exception is the genesis change, whose hash is the alliance ID.
//!
//! Local edits pass both by construction (this device must be a member now, and its change
//! depends on "now"); they are committed and signed here (`Replica::commit`, `commit_on`). A
//! received batch is checked before the replica changes and applied all or nothing, in one
//! Automerge call (see [`Replica::receive`], in `receive`); a whole history sent as one
//! document is parsed into a separate copy and split into its changes, which go through the
//! same checks before the replica takes any of it ([`Replica::receive_document`], in
//! `document`). Both ways in run the same checks, each written once in `receive`. Nothing from
//! a failed batch is kept. What a replica holds can be re-checked at any time (`audit`:
//! [`Replica::verify_history`], [`Replica::log`]).
//!
//! The rooms of this module:
//! - here: the type, its construction and accessors, the errors ([`EditError`],
//!   [`ReceiveError`]), the [`Budget`] of a received batch;
//! - `commit`: committing and signing local edits, applying this device's own stored changes,
//!   the checks of text people write;
//! - `tips`: each actor's newest change, for the equivocation screen and operation numbering;
//! - `receive`: receiving a batch, and the checks every received change goes through;
//! - `document`: receiving a whole document, through the same checks;
//! - `audit`: [`Replica::verify_history`], [`Replica::log`], [`Replica::attribute`],
//!   [`Replica::unsigned_by`], [`Replica::changes_since`].
//!
//! The writers of parts of the schema (a member, a device) live in
//! [`edit`](crate::core::document::edit), beside the edits.

#[cfg(any(test, feature = "test-hooks"))]
pub mod hooks;

mod audit;
mod commit;
mod document;
mod receive;
mod removal;
mod tips;

use crate::core::trust::guard::guarded;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, ObjType, ROOT, ReadDoc,
    transaction::Transactable,
};
use ed25519_dalek::Signature;

pub use audit::{ChangeCheck, Facts, LogEntry};
pub(crate) use commit::{commit_on, non_empty, written};
use tips::{ActorTip, Tips};

use crate::constants::{
    ACTOR_ID_LEN, ACTOR_TAG_LEN, MAX_BATCH_CHANGES, MAX_BATCH_SECS, SCHEMA_VERSION,
};
use crate::core::document::model::{self, AllianceView, keys};
use crate::core::document::model::{put_device, put_member};
use crate::core::ids::{Entropy, ItemId, ItemKind, Timestamp};
use crate::core::trust::equivocation::Quarantine;
use crate::core::trust::identity::{DeviceId, DeviceKey};
use crate::core::trust::signed::{ChangeError, SignedChange, Verified};
use crate::core::trust::verdicts::Verdicts;

/// An alliance's ID: the hash of its genesis change. Self-certifying: whoever holds the genesis
/// change can check that it is the alliance's first change, and who founded it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllianceId(pub ChangeHash);

impl AllianceId {
    /// The first 12 hex characters, enough to tell a device's alliances apart.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

impl fmt::Display for AllianceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for AllianceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllianceId({})", self.short())
    }
}

impl FromStr for AllianceId {
    type Err = automerge::ParseChangeHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(AllianceId(ChangeHash::from_str(s.trim())?))
    }
}

/// Who is writing, with what, and when. Built at the edge from the device key, this device's
/// actor tag for this alliance (kept in the store, so one device keeps one actor), and the clock.
pub struct Writer<'a> {
    pub key: &'a DeviceKey,
    pub actor_tag: [u8; ACTOR_TAG_LEN],
    pub now: Timestamp,
}

impl Writer<'_> {
    /// The Automerge actor ID of this writer: device key, then actor tag.
    pub fn actor(&self) -> ActorId {
        let mut bytes = Vec::with_capacity(ACTOR_ID_LEN);
        bytes.extend_from_slice(self.key.device_id().as_bytes());
        bytes.extend_from_slice(&self.actor_tag);
        ActorId::from(bytes)
    }
}

/// Why a local edit was refused. Nothing is committed when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("this device ({0}) is not a member of the alliance")]
    NotAMember(String),
    #[error("no {kind} with ID {id}; `alliance show` lists the IDs")]
    UnknownItem { kind: &'static str, id: String },
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{what} is too long ({len} characters, at most {max})")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("rating must be between 1 and 5, not {0}")]
    RatingOutOfRange(i64),
    #[error("only {owner} can change their own need {id}")]
    NotOwner { id: String, owner: String },
    #[error("{0}")]
    Invalid(String),
    /// The rules of who may write what (docs/schema.md) do not allow this device's person to.
    #[error("{0}")]
    NotAllowed(String),
    #[error("automerge refused the edit: {0}")]
    Automerge(#[from] AutomergeError),
}

/// Why a received batch of changes was refused. Nothing from the batch was applied.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("rejected change: {0}")]
    Change(#[from] ChangeError),
    #[error(
        "rejected change {hash}: its author {author} was not a member device at that point of the history"
    )]
    NotAMember { hash: String, author: String },
    #[error("rejected {0}")]
    Rule(#[from] crate::core::trust::rules::Broken),
    #[error("{count} change(s) depend on changes that were not sent; nothing was applied")]
    MissingDependencies { count: usize },
    #[error("these changes do not belong to alliance {0} (its genesis change is missing)")]
    WrongAlliance(String),
    #[error("batch of {0} changes is larger than the limit of {MAX_BATCH_CHANGES}")]
    TooMany(usize),
    #[error("automerge could not apply the changes: {0}")]
    Automerge(String),
    /// A batch failed halfway and the replica could not be put back: load it again from the
    /// store, which holds only what was verified and persisted.
    #[error("the replica must be reloaded from the store: {0}")]
    Poisoned(String),
    /// Automerge panicked on the peer's data: it is malformed in a way Automerge's own checks
    /// miss. Nothing was kept; quarantine the sender. When `reload` is set the replica may have
    /// been half-changed: load it again from the store.
    #[error("the data made Automerge panic while {step}; nothing was kept")]
    Panicked { step: &'static str, reload: bool },
    #[error("{0}; nothing was applied")]
    OverBudget(String),
}

impl ReceiveError {
    /// Whether the sender should be quarantined: its data made Automerge panic.
    pub fn is_hostile(&self) -> bool {
        matches!(
            self,
            ReceiveError::Panicked { .. } | ReceiveError::Change(ChangeError::Panicked(_))
        )
    }

    /// Whether the in-memory replica must be reloaded from the store.
    pub fn needs_reload(&self) -> bool {
        matches!(
            self,
            ReceiveError::Poisoned(_) | ReceiveError::Panicked { reload: true, .. }
        )
    }
}

/// Limits on the work one received batch may cause, besides the fixed ones in
/// [`constants`](crate::constants). Time comes in from the caller (the core reads no clock):
/// `out_of_time` says whether the batch's time is up, and is asked between steps.
pub struct Budget<'a> {
    out_of_time: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl<'a> Budget<'a> {
    /// No time limit (tests, and a device's own bundle files).
    pub fn unlimited() -> Budget<'static> {
        Budget { out_of_time: None }
    }

    /// A time limit: `out_of_time()` turns true once the batch has taken
    /// [`MAX_BATCH_SECS`] (see `net` for the clock).
    pub fn until(out_of_time: &'a (dyn Fn() -> bool + Sync)) -> Budget<'a> {
        Budget {
            out_of_time: Some(out_of_time),
        }
    }

    fn check(&self, step: &str) -> Result<(), ReceiveError> {
        match self.out_of_time {
            Some(f) if f() => Err(ReceiveError::OverBudget(format!(
                "the batch took longer than {MAX_BATCH_SECS} s ({step})"
            ))),
            _ => Ok(()),
        }
    }

    fn expired(&self) -> bool {
        self.out_of_time.is_some_and(|f| f())
    }
}

/// What a successful receive did.
#[derive(Debug)]
pub struct Received {
    /// The changes that were new to this replica, verified, in causal order: persist these.
    pub new: Vec<SignedChange<Verified>>,
    /// How many changes of the batch this replica already had.
    pub duplicates: usize,
    /// How many changes arrived as a whole document into an empty replica
    /// ([`Replica::receive_document`]). They are in the replica but not in `new`: persist them
    /// with a snapshot of the replica.
    pub loaded: usize,
    /// Equivocations found in this batch (the proofs are in [`Replica::quarantine`]).
    pub equivocations: usize,
    /// Changes of the batch left out because of an equivocation (see
    /// [`equivocation`](crate::core::trust::equivocation)).
    pub dropped: usize,
}

/// A replica of one alliance.
#[derive(Clone)]
pub struct Replica {
    id: AllianceId,
    pub(crate) doc: Automerge,
    signatures: HashMap<ChangeHash, Signature>,
    /// Proofs that vouch for changes whose vouching change a removal withdrew (see
    /// [`Proof`](crate::core::trust::signed::Proof) and `removal`).
    proofs: HashMap<ChangeHash, crate::core::trust::signed::Proof>,
    /// How many changes of each actor the document holds, found when first needed and kept
    /// up to date by every way in (see [`Tips`]).
    seq_counts: Tips,
    quarantine: Quarantine,
    /// Set when Automerge panicked while changing the document: nothing more goes in or out
    /// until the replica is loaded again from the store.
    poisoned: bool,
    /// Set when changes the replica held were withdrawn (see `removal`): save it whole.
    rewritten: bool,
    /// Verdicts of earlier checks for the review commands (see
    /// [`verdicts`](crate::core::trust::verdicts)); in memory only until the store gives it the kept set.
    verdicts: VerdictCell,
    /// Which signature vouches for each change without its own, for the heads it was worked
    /// out at (see [`vouch::vouchers`](crate::core::trust::vouch::vouchers)).
    vouchers: VoucherCell,
}

/// The vouchers behind a lock, worked out when first needed for the present heads.
#[derive(Debug, Default)]
struct VoucherCell(std::sync::Mutex<Option<std::sync::Arc<crate::core::trust::vouch::Vouchers>>>);

impl Clone for VoucherCell {
    fn clone(&self) -> Self {
        VoucherCell(std::sync::Mutex::new(
            self.0.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        ))
    }
}

/// The replica's verdicts behind a lock, so checking through `&Replica` can record them.
#[derive(Debug, Default)]
struct VerdictCell(std::sync::Mutex<Verdicts>);

impl Clone for VerdictCell {
    fn clone(&self) -> Self {
        VerdictCell(std::sync::Mutex::new(self.lock().clone()))
    }
}

impl VerdictCell {
    fn lock(&self) -> std::sync::MutexGuard<'_, Verdicts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("heads", &self.doc.get_heads())
            .finish()
    }
}

impl Replica {
    /// Founds a new alliance. The genesis change creates the document's structure and makes this
    /// device's person (`name`, `role`) its first member. Returns the replica, the founder's
    /// member ID and the signed genesis change (to persist).
    pub fn create(
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        title: &str,
        name: &str,
        role: &str,
    ) -> Result<(Replica, ItemId, SignedChange<Verified>), EditError> {
        Self::create_for(writer, entropy, title, name, role, None)
    }

    /// [`Replica::create`] with the starting point the founder chose (`ROOT.start`, written by
    /// the genesis change: see `core::seed`).
    pub fn create_for(
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        title: &str,
        name: &str,
        role: &str,
        start: Option<crate::core::seed::Start>,
    ) -> Result<(Replica, ItemId, SignedChange<Verified>), EditError> {
        let title = non_empty("title", title)?;
        let name = crate::core::document::text::check_name(name).map_err(EditError::Invalid)?;
        written("role", role)?;
        let member = ItemId::random(ItemKind::Member, entropy);
        let device = writer.key.device_id().to_hex();
        let summary = format!("founded alliance \"{title}\" with {name}");
        let mut doc = Automerge::new();
        let change = commit_on(&mut doc, writer, summary, |tx| {
            tx.put(ROOT, keys::SCHEMA, SCHEMA_VERSION)?;
            tx.put(ROOT, keys::TITLE, title.as_str())?;
            tx.put(ROOT, keys::CREATED_AT, writer.now.0)?;
            if let Some(start) = start {
                tx.put(ROOT, keys::START, start.as_str())?;
            }
            let devices = tx.put_object(ROOT, keys::DEVICES, ObjType::Map)?;
            let members = tx.put_object(ROOT, keys::MEMBERS, ObjType::Map)?;
            for k in [keys::NEEDS, keys::PLAN, keys::EXPECTATIONS, keys::CHECKINS] {
                tx.put_object(ROOT, k, ObjType::Map)?;
            }
            tx.put_object(ROOT, keys::VISION, ObjType::Text)?;
            put_member(tx, &members, &member, &name, role, None, false, writer.now)?;
            put_device(tx, &devices, &device, &member, &device, writer.now)?;
            Ok(())
        })?
        .expect("genesis change is never empty");
        let id = AllianceId(change.hash());
        let mut replica = Replica {
            id,
            doc,
            signatures: HashMap::new(),
            proofs: HashMap::new(),
            seq_counts: Tips::default(),
            quarantine: Quarantine::default(),
            poisoned: false,
            rewritten: false,
            verdicts: VerdictCell::default(),
            vouchers: VoucherCell::default(),
        };
        replica.keep_signature(&change);
        Ok((replica, member, change))
    }

    /// An empty replica of alliance `id`, to be filled by [`Replica::receive`] (a device that
    /// joins receives the genesis change and everything after it).
    pub fn empty(id: AllianceId) -> Replica {
        Replica {
            id,
            doc: Automerge::new(),
            signatures: HashMap::new(),
            proofs: HashMap::new(),
            seq_counts: Tips::default(),
            quarantine: Quarantine::default(),
            poisoned: false,
            rewritten: false,
            verdicts: VerdictCell::default(),
            vouchers: VoucherCell::default(),
        }
    }

    /// Rebuilds a replica from this device's own store: an Automerge snapshot (if any), the
    /// signatures of its changes, and the signed changes appended since. All of it was verified
    /// before it was written; `verify_history` re-checks on demand.
    pub fn from_store(
        id: AllianceId,
        snapshot: Option<&[u8]>,
        signatures: HashMap<ChangeHash, Signature>,
        proofs: HashMap<ChangeHash, crate::core::trust::signed::Proof>,
        changes: Vec<SignedChange<Verified>>,
    ) -> Result<Replica, AutomergeError> {
        let doc = match snapshot {
            Some(bytes) => {
                guarded(|| Automerge::load(bytes)).unwrap_or_else(|| Err(AutomergeError::Fail))?
            }
            None => Automerge::new(),
        };
        let mut replica = Replica {
            id,
            doc,
            signatures,
            proofs,
            seq_counts: Tips::default(),
            quarantine: Quarantine::default(),
            poisoned: false,
            rewritten: false,
            verdicts: VerdictCell::default(),
            vouchers: VoucherCell::default(),
        };
        let mut plain = Vec::with_capacity(changes.len());
        for c in changes {
            replica.keep_signature(&c);
            plain.push(c.into_change());
        }
        guarded(|| replica.doc.apply_changes(plain)).unwrap_or(Err(AutomergeError::Fail))?;
        Ok(replica)
    }

    pub fn id(&self) -> AllianceId {
        self.id
    }

    /// Whether Automerge panicked while changing this replica: it refuses everything until it
    /// is loaded again from the store (see [`ReceiveError::needs_reload`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    pub fn doc(&self) -> &Automerge {
        &self.doc
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The number of changes in the history.
    pub fn len(&self) -> usize {
        self.doc.get_changes_meta(&[]).len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// Every signature this replica holds, for the store's snapshot.
    pub fn signatures(&self) -> &HashMap<ChangeHash, Signature> {
        &self.signatures
    }

    /// The proofs kept for changes whose vouching change a removal withdrew.
    pub fn proofs(&self) -> &HashMap<ChangeHash, crate::core::trust::signed::Proof> {
        &self.proofs
    }

    /// The compact Automerge encoding of the whole document, for the store's snapshot.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The alliance as it reads now.
    pub fn view(&self) -> AllianceView {
        model::read_view(&self.doc, &self.id.0)
    }

    /// Who is in the alliance now (members and devices only; see [`model::read_roster`]).
    pub fn roster(&self) -> AllianceView {
        model::read_roster(&self.doc, &self.id.0)
    }

    /// The member ID of a device, if the device is a member now (added, and neither it nor
    /// its person removed).
    pub fn member_of(&self, device: &DeviceId) -> Option<ItemId> {
        crate::core::trust::rules::member_at(&self.doc, device, &self.doc.get_heads())
    }

    /// Whether `device` was a device of the alliance and was removed (or its person was), as
    /// this replica knows now.
    pub fn is_removed(&self, device: &DeviceId) -> bool {
        crate::core::trust::rules::removed_now_of(&self.doc, device)
    }

    /// Whether `device` is a keeper of the alliance now (added, not removed).
    pub fn is_keeper(&self, device: &DeviceId) -> bool {
        self.roster()
            .device(&device.to_hex())
            .is_some_and(|d| d.keeper && d.removed.is_none())
    }

    /// Whether `device` may sync with this replica now: a member device, or a keeper (which
    /// holds and forwards, and writes nothing); neither removed.
    pub fn is_peer(&self, device: &DeviceId) -> bool {
        self.member_of(device).is_some() || self.is_keeper(device)
    }

    /// The devices this one keeps in sync with, other than `me`: every member device and
    /// keeper now (removed ones, and devices of removed people, are not: they are never
    /// dialled).
    pub fn peer_devices(&self, me: &DeviceId) -> Vec<DeviceId> {
        let roster = self.roster();
        let current: std::collections::HashSet<&ItemId> =
            roster.members.iter().map(|m| &m.id).collect();
        roster
            .devices
            .iter()
            .filter(|d| d.removed.is_none() && (d.keeper || current.contains(&d.member)))
            .filter_map(|d| d.key.parse::<DeviceId>().ok())
            .filter(|d| d != me && self.is_peer(d))
            .collect()
    }

    /// Whether a session may send `device` anything from this replica. A session starts only
    /// with a member device (the handshake sees to it), and stops being one only by a removal:
    /// once the removal of `device` (or of its person) is here, nothing more leaves this
    /// replica for it.
    pub fn may_receive(&self, device: &DeviceId) -> bool {
        !self.is_removed(device)
    }

    /// A fresh item ID of `kind` that no item in the document uses yet.
    pub fn fresh_id(&self, kind: ItemKind, entropy: &mut dyn Entropy) -> ItemId {
        let collection = model::map_at(&self.doc, &ROOT, kind.collection());
        loop {
            let id = ItemId::random(kind, entropy);
            let taken = collection
                .as_ref()
                .is_some_and(|c| matches!(self.doc.get(c, id.as_str()), Ok(Some(_))));
            if !taken {
                return id;
            }
        }
    }

    /// Equivocation proofs and the changes left out because of them (persist with
    /// [`Replica::restore_quarantine`]).
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }

    /// Restores what [`Replica::quarantine`] returned before (the store keeps it).
    pub fn restore_quarantine(&mut self, quarantine: Quarantine) {
        self.quarantine = quarantine.restored();
    }

    /// Whether the history holds the change `hash`.
    pub fn has(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }
}

impl From<EditError> for ReceiveError {
    fn from(e: EditError) -> Self {
        ReceiveError::Automerge(e.to_string())
    }
}
