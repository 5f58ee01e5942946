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
//! document is loaded and checked on a separate copy ([`Replica::receive_document`], in
//! `document`). Both ways in run the same checks, each written once in `receive`. Nothing from
//! a failed batch is kept. What a replica holds can be re-checked at any time (`audit`:
//! [`Replica::verify_history`], [`Replica::log`]).
//!
//! The rooms of this module:
//! - here: the type, its construction and accessors, the errors ([`EditError`],
//!   [`ReceiveError`]), the [`Budget`] of a received batch, committing and signing local edits;
//! - `receive`: receiving a batch, and the checks every received change goes through;
//! - `document`: receiving a whole document, through the same checks;
//! - `audit`: [`Replica::verify_history`], [`Replica::log`], [`Replica::attribute`],
//!   [`Replica::unsigned_by`], [`Replica::changes_since`].
//!
//! The writers of parts of the schema (a member, a device) live in
//! [`edit`](crate::core::document::edit), beside the edits.

mod audit;
mod document;
mod receive;
mod removal;

use crate::core::trust::guard::guarded;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, ObjType, ROOT, ReadDoc,
    transaction::{CommitOptions, Transactable, Transaction},
};
use ed25519_dalek::Signature;

pub use audit::{ChangeCheck, Facts, LogEntry};

use crate::core::document::model::{self, AllianceView, keys};
use crate::core::document::model::{put_device, put_member};
use crate::core::ids::{Entropy, ItemId, ItemKind, Timestamp};
use crate::core::trust::equivocation::{Held, Quarantine};
use crate::core::trust::identity::{DeviceId, DeviceKey};
use crate::core::trust::signed::{ChangeError, SignedChange, Verified, Voucher};
use crate::core::trust::verdicts::Verdicts;
use crate::protocol::{
    ACTOR_ID_LEN, ACTOR_TAG_LEN, MAX_BATCH_CHANGES, MAX_BATCH_SECS, SCHEMA_VERSION,
};

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
/// [`protocol`](crate::protocol). Time comes in from the caller (the core reads no clock):
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
struct VoucherCell(std::sync::Mutex<Option<std::sync::Arc<audit::Vouchers>>>);

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
            let devices = tx.put_object(ROOT, keys::DEVICES, ObjType::Map)?;
            let members = tx.put_object(ROOT, keys::MEMBERS, ObjType::Map)?;
            for k in [keys::NEEDS, keys::PLAN, keys::EXPECTATIONS, keys::CHECKINS] {
                tx.put_object(ROOT, k, ObjType::Map)?;
            }
            tx.put_object(ROOT, keys::VISION, ObjType::Text)?;
            put_member(tx, &members, &member, &name, role, None, writer.now)?;
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
        self.member_of(device).is_none() && self.roster().device(&device.to_hex()).is_some()
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

    /// Runs `f` in one transaction as `writer`, commits it with `summary` as the change message,
    /// signs it and records the signature. `Ok(None)` when `f` changed nothing.
    pub(crate) fn commit<F>(
        &mut self,
        writer: &Writer<'_>,
        summary: String,
        f: F,
    ) -> Result<Option<SignedChange<Verified>>, EditError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
    {
        if self.poisoned {
            return Err(EditError::Invalid(
                "the alliance must be loaded again after a failed receive".into(),
            ));
        }
        let device = writer.key.device_id();
        if self.member_of(&device).is_none() {
            return Err(EditError::NotAMember(device.short()));
        }
        let change = commit_on(&mut self.doc, writer, summary, f)?;
        if let Some(c) = &change {
            self.keep_signature(c);
            self.note_seqs(std::slice::from_ref(c));
        }
        Ok(change)
    }

    /// Like [`Replica::commit`], but the change is made as of `heads`, an earlier version of
    /// this replica: its dependencies are `heads`, so it is concurrent with every change made
    /// since, exactly as if this device had made it before those arrived (and the merge,
    /// the conflicts it shows and settling them are the same as for any concurrent edit).
    ///
    /// The actor's changes must stay one chain with no sequence number used twice (two
    /// changes with one (actor, seq) are an equivocation every peer punishes). So this
    /// device's actor makes the change only when its own newest change is in the past of
    /// `heads` (then the change takes the next number and has all of the actor's changes in
    /// its past); else a fresh actor of this device, its tag drawn from `entropy`, makes it.
    pub(crate) fn commit_at<F>(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        heads: &[ChangeHash],
        summary: String,
        f: F,
    ) -> Result<Option<SignedChange<Verified>>, EditError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
    {
        if self.poisoned {
            return Err(EditError::Invalid(
                "the alliance must be loaded again after a failed receive".into(),
            ));
        }
        let device = writer.key.device_id();
        if self.member_of(&device).is_none() {
            return Err(EditError::NotAMember(device.short()));
        }
        if let Some(h) = heads.iter().find(|h| !self.has(h)) {
            return Err(EditError::Invalid(format!(
                "the version {} is not known here; reload the page",
                &h.to_string()[..8]
            )));
        }
        let own = writer.actor();
        let since = self.doc.get_changes(heads);
        let mut tag = writer.actor_tag;
        if since.iter().any(|c| c.actor_id() == &own) {
            entropy.fill(&mut tag);
        }
        let writer = Writer {
            key: writer.key,
            actor_tag: tag,
            now: writer.now,
        };
        let change = commit_on_at(&mut self.doc, &writer, Some(heads), summary, f);
        // The document's own actor stays this device's usual one.
        self.doc.set_actor(own);
        let change = change?;
        if let Some(c) = &change {
            self.keep_signature(c);
            self.note_seqs(std::slice::from_ref(c));
        }
        Ok(change)
    }

    /// Applies changes read back from this device's own store (written by another process on
    /// this device, which verified them first).
    pub(crate) fn apply_trusted(
        &mut self,
        changes: Vec<SignedChange<Verified>>,
    ) -> Result<(), AutomergeError> {
        self.note_seqs(&changes);
        let mut plain = Vec::with_capacity(changes.len());
        for c in changes {
            self.keep_signature(&c);
            plain.push(c.into_change());
        }
        let result = guarded(|| self.doc.apply_changes(plain)).unwrap_or(Err(AutomergeError::Fail));
        if result.is_err() {
            self.seq_counts = Tips::default();
        }
        result
    }

    /// Applies a change this device made and signed on a fork of this replica.
    pub(crate) fn apply_local(&mut self, change: &SignedChange<Verified>) -> Result<(), EditError> {
        self.doc.apply_changes([change.change().clone()])?;
        self.keep_signature(change);
        self.note_seqs(std::slice::from_ref(change));
        Ok(())
    }

    /// Keeps a change's own signature, or its proof, when it came with one.
    pub(super) fn keep_signature(&mut self, change: &SignedChange<Verified>) {
        if let Some(voucher) = change.voucher() {
            self.keep_voucher(change.hash(), voucher.clone());
        }
    }

    /// Keeps what vouches for change `hash` itself: its signature, or its proof.
    pub(super) fn keep_voucher(&mut self, hash: ChangeHash, voucher: Voucher) {
        self.forget_vouchers();
        match voucher {
            Voucher::Signature(sig) => {
                self.signatures.insert(hash, sig);
            }
            Voucher::Proof(proof) => {
                self.proofs.insert(hash, proof);
            }
        }
    }

    /// Keeps the per-actor change counts up to date with changes that entered the document.
    fn note_seqs(&mut self, changes: &[SignedChange<Verified>]) {
        let tips = &mut self.seq_counts;
        for c in changes {
            let (seq, max_op) = (c.change().seq(), c.change().max_op());
            if tips.complete {
                tips.known
                    .entry(c.actor_id().clone())
                    .or_default()
                    .note(seq, max_op);
            } else if let Some(tip) = tips.known.get_mut(c.actor_id()) {
                tip.note(seq, max_op);
            }
        }
    }

    /// The newest change of `actor` in the document: its number and its last operation.
    ///
    /// Found from a change of the actor near the heads when there is one (a few lookups; see
    /// [`tip_near_heads`]), otherwise from the metadata of every change, which costs a pass
    /// over the whole history (about 100 ms at 100,000 changes). Before, every replica just
    /// loaded or copied paid that pass on the first change it received: most of a reconnect.
    fn tip(&mut self, actor: &ActorId) -> ActorTip {
        if let Some(tip) = self.seq_counts.known.get(actor) {
            return *tip;
        }
        if self.seq_counts.complete {
            return ActorTip::default();
        }
        if let Some(tip) = tip_near_heads(&self.doc, actor) {
            self.seq_counts.known.insert(actor.clone(), tip);
            return tip;
        }
        let mut known: HashMap<ActorId, ActorTip> = HashMap::new();
        for m in self.doc.get_changes_meta(&[]) {
            known
                .entry(m.actor.into_owned())
                .or_default()
                .note(m.seq, m.max_op);
        }
        let tip = known.get(actor).copied().unwrap_or_default();
        self.seq_counts = Tips {
            known,
            complete: true,
        };
        tip
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

/// The newest change of each actor the replica looked up: exact for every actor in `known`,
/// and for every actor at all once `complete` (an actor missing then has no change).
#[derive(Debug, Clone, Default)]
struct Tips {
    known: HashMap<ActorId, ActorTip>,
    complete: bool,
}

/// How many changes [`tip_near_heads`] looks at, walking back from the heads, for one of the
/// actor's changes.
const TIP_WALK: usize = 256;

/// The newest change of `actor`, found from one of its changes near the heads, or `None` when
/// none is within [`TIP_WALK`] changes of them.
///
/// Automerge numbers an actor's changes 1, 2, 3... and applies each only after the one before
/// it and after its own dependencies (it refuses or queues anything else), so the changes of
/// `actor` numbered after a change `h` of it are exactly its changes outside `h`'s past: what
/// `get_changes_meta(&[h])` lists. That list is short when `h` is near the heads.
fn tip_near_heads(doc: &Automerge, actor: &ActorId) -> Option<ActorTip> {
    let mut seen = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<ChangeHash> = doc.get_heads().into();
    let mut found = None;
    while let Some(hash) = queue.pop_front() {
        if seen.len() >= TIP_WALK {
            break;
        }
        if !seen.insert(hash) {
            continue;
        }
        let meta = doc.get_change_meta_by_hash(&hash)?;
        if meta.actor.as_ref() == actor {
            found = Some((hash, meta.seq, meta.max_op));
            break;
        }
        queue.extend(meta.deps.iter().copied());
    }
    let (hash, seq, max_op) = found?;
    let mut tip = ActorTip { seq, max_op };
    for m in doc.get_changes_meta(&[hash]) {
        if m.actor.as_ref() == actor {
            tip.note(m.seq, m.max_op);
        }
    }
    Some(tip)
}

/// The newest change of one actor: its number and its last operation's counter.
#[derive(Debug, Clone, Copy, Default)]
struct ActorTip {
    seq: u64,
    max_op: u64,
}

impl ActorTip {
    fn note(&mut self, seq: u64, max_op: u64) {
        if seq > self.seq {
            self.seq = seq;
            self.max_op = max_op;
        }
    }
}

impl Held for Replica {
    fn seq_count(&mut self, actor: &ActorId) -> u64 {
        self.tip(actor).seq
    }

    fn change_at(
        &self,
        actor: &ActorId,
        seq: u64,
    ) -> Option<crate::core::trust::equivocation::Signed> {
        let hash = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .find(|m| m.seq == seq && m.actor.as_ref() == actor)?
            .hash;
        // Its own signature or proof, or else a proof built from what vouches for it here.
        let (vouched_by, signature) = match self.kept_voucher(&hash) {
            Some(Voucher::Signature(sig)) => (Vec::new(), sig),
            Some(Voucher::Proof(proof)) => (proof.via, proof.signature),
            None => {
                let proof = self.proof_for(&hash)?;
                (proof.via, proof.signature)
            }
        };
        let change = self.doc.get_change_by_hash(&hash)?;
        Some(crate::core::trust::equivocation::Signed {
            bytes: change.raw_bytes().to_vec(),
            hash,
            vouched_by,
            signature,
        })
    }

    fn is_member(&self, device: &DeviceId) -> bool {
        self.member_of(device).is_some()
    }
}

/// Commits one transaction on `doc` as `writer` and signs the resulting change.
pub(crate) fn commit_on<F>(
    doc: &mut Automerge,
    writer: &Writer<'_>,
    summary: String,
    f: F,
) -> Result<Option<SignedChange<Verified>>, EditError>
where
    F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
{
    commit_on_at(doc, writer, None, summary, f)
}

/// [`commit_on`], the transaction made as of `heads` when given (Automerge's isolated
/// transaction: it reads and writes the document as it was at `heads`, which become the
/// change's dependencies). The caller makes sure `writer`'s actor may write there.
fn commit_on_at<F>(
    doc: &mut Automerge,
    writer: &Writer<'_>,
    heads: Option<&[ChangeHash]>,
    summary: String,
    f: F,
) -> Result<Option<SignedChange<Verified>>, EditError>
where
    F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
{
    doc.set_actor(writer.actor());
    let mut tx = match heads {
        Some(h) => doc
            .transaction_at(automerge::PatchLog::inactive(), h)
            .map_err(|_| EditError::Automerge(AutomergeError::Fail))?,
        None => doc.transaction(),
    };
    if let Err(e) = f(&mut tx) {
        tx.rollback();
        return Err(e);
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message(summary)
            .with_time(writer.now.0),
    );
    let Some(hash) = hash else {
        return Ok(None);
    };
    let change = doc
        .get_change_by_hash(&hash)
        .ok_or(EditError::Automerge(AutomergeError::Fail))?;
    Ok(Some(SignedChange::sign_local(change, writer.key)))
}

impl From<EditError> for ReceiveError {
    fn from(e: EditError) -> Self {
        ReceiveError::Automerge(e.to_string())
    }
}

/// Refuses text people write that holds a bidirectional control
/// ([`crate::core::document::text::check_text`]).
pub(crate) fn written(what: &str, s: &str) -> Result<(), EditError> {
    crate::core::document::text::check_text(&format!("the {what}"), s).map_err(EditError::Invalid)
}

/// Trims `s` and refuses an empty result, or one with a bidirectional control ([`written`]).
pub(crate) fn non_empty(what: &'static str, s: &str) -> Result<String, EditError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(EditError::Empty(what));
    }
    written(what, t)?;
    let len = t.chars().count();
    if len > crate::protocol::MAX_TEXT_CHARS {
        return Err(EditError::TooLong {
            what,
            len,
            max: crate::protocol::MAX_TEXT_CHARS,
        });
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::SeededEntropy;

    /// Every actor's tip as the whole history's metadata gives it.
    fn full_tips(doc: &Automerge) -> HashMap<ActorId, (u64, u64)> {
        let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
        for m in doc.get_changes_meta(&[]) {
            tips.entry(m.actor.into_owned())
                .or_default()
                .note(m.seq, m.max_op);
        }
        tips.into_iter()
            .map(|(a, t)| (a, (t.seq, t.max_op)))
            .collect()
    }

    #[test]
    fn a_tip_found_near_the_heads_is_the_tip_of_the_whole_history() {
        let key = DeviceKey::from_seed([7; 32]);
        let writer = |tag: u8, now: i64| Writer {
            key: &key,
            actor_tag: [tag; ACTOR_TAG_LEN],
            now: Timestamp(now),
        };
        let mut rng = SeededEntropy::new(3);
        let (mut a, _, _) =
            Replica::create(&writer(1, 0), &mut rng, "Us", "Ada", "parent").expect("created");
        // Actor 2 writes early and then falls silent for longer than the walk; actors 1 and 3
        // take turns; actor 4 writes on a branch of its own, forked late, that is merged back.
        for i in 0..5 {
            a.add_need(&writer(2, i), &mut rng, &format!("early {i}"))
                .expect("edit");
        }
        let mut fork = None;
        for i in 0..(TIP_WALK as i64 + 50) {
            if i == TIP_WALK as i64 + 10 {
                fork = Some(a.clone());
            }
            let tag = if i % 3 == 0 { 3 } else { 1 };
            a.splice_vision(&writer(tag, 10 + i), 0, 0, "w ")
                .expect("edit");
        }
        let mut branch = fork.expect("forked");
        for i in 0..7 {
            branch
                .add_need(&writer(4, 1000 + i), &mut rng, &format!("branch {i}"))
                .expect("edit");
        }
        let theirs: Vec<automerge::Change> = branch.doc.get_changes(&a.doc.get_heads());
        a.doc.apply_changes(theirs).expect("merged");
        let full = full_tips(&a.doc);
        assert!(full.len() >= 4, "four actors wrote");
        for tag in [1, 3, 4] {
            let actor = writer(tag, 0).actor();
            let near = tip_near_heads(&a.doc, &actor).expect("a change near the heads");
            assert_eq!(
                Some(&(near.seq, near.max_op)),
                full.get(&actor),
                "actor {tag}"
            );
        }
        // Actor 2 is too far back for the walk: the whole history is read instead, and an
        // actor that never wrote has no changes.
        assert!(tip_near_heads(&a.doc, &writer(2, 0).actor()).is_none());
        let mut fresh = a.clone();
        fresh.seq_counts = Tips::default();
        let t = fresh.tip(&writer(2, 0).actor());
        assert_eq!(Some(&(t.seq, t.max_op)), full.get(&writer(2, 0).actor()));
        assert!(fresh.seq_counts.complete);
        assert_eq!(fresh.tip(&writer(9, 0).actor()).seq, 0);
        let mut fresh = a.clone();
        fresh.seq_counts = Tips::default();
        let t = fresh.tip(&writer(4, 0).actor());
        assert_eq!(Some(&(t.seq, t.max_op)), full.get(&writer(4, 0).actor()));
        assert!(!fresh.seq_counts.complete, "found near the heads");
    }
}
