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
//! depends on "now"). A received batch is checked before the replica changes and applied all
//! or nothing, in one Automerge call (see [`Replica::receive`]); a whole history sent as one
//! document is loaded and checked on a separate copy ([`Replica::receive_document`]). Nothing
//! from a failed batch is kept.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use automerge::{
    ActorId, Automerge, AutomergeError, Change, ChangeHash, ObjType, ROOT, ReadDoc, Value,
    transaction::{CommitOptions, Transactable, Transaction},
};
use ed25519_dalek::Signature;
use serde::Serialize;

use crate::core::equivocation::{self, Held, Quarantine};
use crate::core::identity::{DeviceId, DeviceKey};
use crate::core::ids::{Entropy, ItemId, ItemKind, Timestamp};
use crate::core::model::{self, AllianceView, keys};
use crate::core::signed::{
    Authenticated, Authors, ChangeError, Claim, SignedChange, Unverified, Verified,
    authenticate_batch, author_of,
};
use crate::core::vouch::{Node, signatures_to_check};
use crate::protocol::{
    ACTOR_ID_LEN, ACTOR_TAG_LEN, MAX_BATCH_CHANGES, MAX_BATCH_OPS, MAX_BATCH_SECS, SCHEMA_VERSION,
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
    #[error("{count} change(s) depend on changes that were not sent; nothing was applied")]
    MissingDependencies { count: usize },
    #[error("these changes do not belong to alliance {0} (its genesis change is missing)")]
    WrongAlliance(String),
    #[error("batch of {0} changes is larger than the limit of {MAX_BATCH_CHANGES}")]
    TooMany(usize),
    #[error("automerge could not apply the changes: {0}")]
    Automerge(String),
    #[error("peer sent {changes} changes with {signatures} signatures")]
    SignatureCount { changes: usize, signatures: usize },
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
    /// [`equivocation`](crate::core::equivocation)).
    pub dropped: usize,
}

/// The verdict on one change of the history.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeCheck {
    pub hash: String,
    /// The device key the change names as author, if it names a valid one.
    pub device: Option<String>,
    /// `None` when the change verified; otherwise what is wrong with it.
    pub problem: Option<String>,
}

/// One entry of `alliance log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub hash: String,
    /// The author's display name (or `unknown` when the device is not a member).
    pub author: String,
    /// The author's member ID, when known.
    pub member: Option<ItemId>,
    /// The author's device key (hex).
    pub device: String,
    pub time: Timestamp,
    pub summary: String,
    pub verified: bool,
    pub problem: Option<String>,
    /// Set when the change's author also signed another change with the same actor and
    /// number (an equivocation; see [`crate::core::equivocation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivocation: Option<String>,
}

/// A replica of one alliance.
#[derive(Clone)]
pub struct Replica {
    id: AllianceId,
    pub(crate) doc: Automerge,
    signatures: HashMap<ChangeHash, Signature>,
    /// How many changes of each actor the document holds, built when first needed and kept
    /// up to date by every way in (`None`: not built yet).
    seq_counts: Option<HashMap<ActorId, ActorTip>>,
    quarantine: Quarantine,
    /// Set when Automerge panicked while changing the document: nothing more goes in or out
    /// until the replica is loaded again from the store.
    poisoned: bool,
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
        let name = non_empty("name", name)?;
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
            seq_counts: None,
            quarantine: Quarantine::default(),
            poisoned: false,
        };
        replica
            .signatures
            .insert(change.hash(), *change.signature());
        Ok((replica, member, change))
    }

    /// An empty replica of alliance `id`, to be filled by [`Replica::receive`] (a device that
    /// joins receives the genesis change and everything after it).
    pub fn empty(id: AllianceId) -> Replica {
        Replica {
            id,
            doc: Automerge::new(),
            signatures: HashMap::new(),
            seq_counts: None,
            quarantine: Quarantine::default(),
            poisoned: false,
        }
    }

    /// Rebuilds a replica from this device's own store: an Automerge snapshot (if any), the
    /// signatures of its changes, and the signed changes appended since. All of it was verified
    /// before it was written; `verify_history` re-checks on demand.
    pub fn from_store(
        id: AllianceId,
        snapshot: Option<&[u8]>,
        signatures: HashMap<ChangeHash, Signature>,
        changes: Vec<SignedChange<Verified>>,
    ) -> Result<Replica, AutomergeError> {
        let mut doc = match snapshot {
            Some(bytes) => {
                guarded(|| Automerge::load(bytes)).unwrap_or_else(|| Err(AutomergeError::Fail))?
            }
            None => Automerge::new(),
        };
        let mut signatures = signatures;
        let mut plain = Vec::with_capacity(changes.len());
        for c in changes {
            signatures.insert(c.hash(), *c.signature());
            plain.push(c.into_change());
        }
        guarded(|| doc.apply_changes(plain)).unwrap_or(Err(AutomergeError::Fail))?;
        Ok(Replica {
            id,
            doc,
            signatures,
            seq_counts: None,
            quarantine: Quarantine::default(),
            poisoned: false,
        })
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

    /// The member ID of a device, if the device is a member now.
    pub fn member_of(&self, device: &DeviceId) -> Option<ItemId> {
        let devices = model::map_at(&self.doc, &ROOT, keys::DEVICES)?;
        let entry = model::map_at(&self.doc, &devices, &device.to_hex())?;
        let member = model::string_at(&self.doc, &entry, "member");
        (!member.is_empty()).then(|| ItemId::from_doc_key(&member))
    }

    /// Whether `device` was a member device in the document as of `deps`.
    fn member_at(&self, doc: &Automerge, device: &DeviceId, deps: &[ChangeHash]) -> bool {
        if deps.is_empty() {
            return false;
        }
        let devices = match doc.get_at(ROOT, keys::DEVICES, deps) {
            Ok(Some((Value::Object(ObjType::Map), id))) => id,
            _ => return false,
        };
        matches!(
            doc.get_at(&devices, device.to_hex(), deps),
            Ok(Some((Value::Object(ObjType::Map), _)))
        )
    }

    /// Whether a change is authorised: the genesis change of this alliance, or a change whose
    /// author device was a member as of its dependencies.
    fn authorised(
        &self,
        doc: &Automerge,
        change_hash: &ChangeHash,
        deps: &[ChangeHash],
        author: &DeviceId,
    ) -> bool {
        if *change_hash == self.id.0 {
            return deps.is_empty();
        }
        self.member_at(doc, author, deps)
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
            self.signatures.insert(c.hash(), *c.signature());
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
            self.signatures.insert(c.hash(), *c.signature());
            plain.push(c.into_change());
        }
        let result = guarded(|| self.doc.apply_changes(plain)).unwrap_or(Err(AutomergeError::Fail));
        if result.is_err() {
            self.seq_counts = None;
        }
        result
    }

    /// Applies a change this device made and signed on a fork of this replica.
    pub(crate) fn apply_local(&mut self, change: &SignedChange<Verified>) -> Result<(), EditError> {
        self.doc.apply_changes([change.change().clone()])?;
        self.signatures.insert(change.hash(), *change.signature());
        self.note_seqs(std::slice::from_ref(change));
        Ok(())
    }

    /// Keeps the per-actor change counts up to date with changes that entered the document.
    fn note_seqs(&mut self, changes: &[SignedChange<Verified>]) {
        if let Some(tips) = &mut self.seq_counts {
            for c in changes {
                tips.entry(c.actor_id().clone())
                    .or_default()
                    .note(c.change().seq(), c.change().max_op());
            }
        }
    }

    /// The newest change of `actor` in the document: its number and its last operation.
    fn tip(&mut self, actor: &ActorId) -> ActorTip {
        let doc = &self.doc;
        let tips = self.seq_counts.get_or_insert_with(|| {
            let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
            for m in doc.get_changes_meta(&[]) {
                tips.entry(m.actor.into_owned())
                    .or_default()
                    .note(m.seq, m.max_op);
            }
            tips
        });
        tips.get(actor).copied().unwrap_or_default()
    }

    /// Every change's operations must be numbered after everything in its past: after its
    /// dependencies' and after its own actor's previous change. Automerge numbers an honest
    /// change that way, but applies one that is not without complaint, and then cannot rebuild
    /// the history (operation IDs collide).
    fn check_op_ranges(&mut self, changes: &[SignedChange<Verified>]) -> Result<(), ChangeError> {
        let mut in_batch: HashMap<ChangeHash, u64> = HashMap::new();
        let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
        for c in changes {
            let change = c.change();
            let start = change.start_op().get();
            let mut past = 0;
            for d in change.deps() {
                let max = match in_batch.get(d) {
                    Some(m) => *m,
                    None => self.doc.get_change_meta_by_hash(d).map_or(0, |m| m.max_op),
                };
                past = past.max(max);
            }
            let actor = change.actor_id();
            if !tips.contains_key(actor) {
                let tip = self.tip(actor);
                tips.insert(actor.clone(), tip);
            }
            let tip = tips.get_mut(actor).expect("inserted");
            past = past.max(tip.max_op);
            if start <= past || change.max_op() < start.saturating_sub(1) {
                return Err(ChangeError::Malformed(format!(
                    "change {} numbers its operations from {start}, inside its own past (up to {past})",
                    c.hash()
                )));
            }
            tip.note(change.seq(), change.max_op());
            in_batch.insert(c.hash(), change.max_op());
        }
        Ok(())
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

    /// Verifies a batch of changes from outside and applies it, all or nothing, with no time
    /// limit; see [`Replica::receive_within`].
    pub fn receive(
        &mut self,
        batch: Vec<SignedChange<Unverified>>,
    ) -> Result<Received, ReceiveError> {
        self.receive_within(batch, &Budget::unlimited())
    }

    /// Verifies a batch of changes from outside and applies it, all or nothing.
    ///
    /// Order of checks, all on the raw bytes and before Automerge parses anything it will keep:
    /// size limits; equivocations and quarantined actors (see
    /// [`equivocation`](crate::core::equivocation): such changes, and what depends on them,
    /// are left out and reported, the rest goes on); every dependency is in the batch or in
    /// the replica (nothing is left waiting in Automerge's queue); the alliance's genesis
    /// change is there; authorship ([`authenticate_batch`]: each author's newest changes have
    /// their signatures checked, and those vouch for the author's older changes in the
    /// batch); and every change's author was a member device as of that change's
    /// dependencies. Then Automerge decodes the changes (guarded against panics), and the
    /// operation limits are checked.
    ///
    /// When every change of the batch depends only on changes the replica already holds (a
    /// live edit), membership is checked on the replica as it is before decoding, and the
    /// batch is applied in place, in one call. Otherwise the batch is applied to a staging
    /// copy, membership is checked there, and the copy replaces the replica. `budget` bounds
    /// the time; a batch over it is abandoned with nothing applied.
    pub fn receive_within(
        &mut self,
        batch: Vec<SignedChange<Unverified>>,
        budget: &Budget<'_>,
    ) -> Result<Received, ReceiveError> {
        if self.poisoned {
            return Err(ReceiveError::Poisoned(
                "Automerge panicked while changing this replica".into(),
            ));
        }
        if batch.len() > MAX_BATCH_CHANGES {
            return Err(ReceiveError::TooMany(batch.len()));
        }
        let mut duplicates = 0;
        let mut dropped = 0;
        let mut fresh_hashes = HashSet::new();
        let mut fresh = Vec::with_capacity(batch.len());
        for c in batch {
            if self.quarantine.is_excluded(&c.hash()) {
                dropped += 1;
            } else if self.has(&c.hash()) || !fresh_hashes.insert(c.hash()) {
                duplicates += 1;
            } else {
                fresh.push(c);
            }
        }
        let mut quarantine = self.quarantine.clone();
        let screened = if fresh.is_empty() {
            equivocation::Screened {
                kept: fresh,
                proofs: 0,
                dropped: 0,
            }
        } else {
            equivocation::screen(fresh, self, &mut quarantine)?
        };
        dropped += screened.dropped;
        let fresh = screened.kept;
        let mut received = Received {
            new: Vec::new(),
            duplicates,
            loaded: 0,
            equivocations: screened.proofs,
            dropped,
        };
        if fresh.is_empty() {
            self.quarantine = quarantine;
            return Ok(received);
        }
        let fresh_hashes: HashSet<ChangeHash> = fresh.iter().map(|c| c.hash()).collect();
        let missing = fresh
            .iter()
            .filter(|c| {
                c.deps()
                    .iter()
                    .any(|d| !fresh_hashes.contains(d) && !self.has(d))
            })
            .count();
        if missing > 0 {
            return Err(ReceiveError::MissingDependencies { count: missing });
        }
        if !self.has(&self.id.0) && !fresh_hashes.contains(&self.id.0) {
            return Err(ReceiveError::WrongAlliance(self.id.short()));
        }
        if let Some(actor) = equivocation::numbering_gap(&fresh, self) {
            return Err(ChangeError::Malformed(format!(
                "the changes of actor {} skip sequence numbers",
                &actor.to_hex_string()[..12]
            ))
            .into());
        }
        budget.check("screening")?;
        let authenticated = authenticate_batch(fresh)?;
        budget.check("checking signatures")?;
        let builds_on_batch = authenticated
            .changes()
            .iter()
            .any(|c| c.deps().iter().any(|d| fresh_hashes.contains(d)));
        let verified = if builds_on_batch {
            let verified = decode_within(authenticated, budget)?;
            self.check_op_ranges(&verified)?;
            let mut staging = self.doc.clone();
            apply_all(&mut staging, &verified)?;
            budget.check("applying")?;
            if !comes_back_out(&staging, &self.doc.get_heads(), &verified) {
                return Err(ReceiveError::Panicked {
                    step: "reading the changes back",
                    reload: false,
                });
            }
            self.check_authors(&staging, &claims_of(&verified), budget)?;
            self.doc = staging;
            verified
        } else {
            self.check_authors(&self.doc, &authenticated.claims(), budget)?;
            let verified = decode_within(authenticated, budget)?;
            self.check_op_ranges(&verified)?;
            let before = self.doc.get_heads();
            match apply_all(&mut self.doc, &verified) {
                Ok(()) => {}
                // Automerge's state after a panic cannot be trusted, whatever its heads say.
                Err(ReceiveError::Panicked { step, .. }) => {
                    self.seq_counts = None;
                    self.poisoned = true;
                    return Err(ReceiveError::Panicked { step, reload: true });
                }
                Err(e) => return Err(self.undo(&before, &fresh_hashes, e)),
            }
            if !comes_back_out(&self.doc, &before, &verified) {
                self.seq_counts = None;
                self.poisoned = true;
                return Err(ReceiveError::Panicked {
                    step: "reading the changes back",
                    reload: true,
                });
            }
            verified
        };
        for c in &verified {
            self.signatures.insert(c.hash(), *c.signature());
        }
        self.note_seqs(&verified);
        self.quarantine = quarantine;
        received.new = verified;
        Ok(received)
    }

    /// [`Replica::receive_document_within`] with no time limit.
    pub fn receive_document(
        &mut self,
        bytes: &[u8],
        signatures: &[Signature],
    ) -> Result<Received, ReceiveError> {
        self.receive_document_within(bytes, signatures, &Budget::unlimited())
    }

    /// Receives a whole history as one Automerge document with the signature of every change
    /// in it, ordered by change hash: what a peer sends a device that has nothing yet, because
    /// loading a document costs a fraction of applying its changes one by one.
    ///
    /// The document is loaded into a separate copy (guarded against panics) and nothing of it
    /// is kept unless all of it passes: Automerge recomputes every change hash while loading
    /// and checks the document's heads against them; nothing may wait for missing
    /// dependencies; the operation limits; the genesis change is this alliance's; authorship
    /// is checked as in [`Replica::receive`]; and every author was a member as of each
    /// change's dependencies. An empty replica takes the document as it is (persist it as a
    /// snapshot, [`Received::loaded`]); a replica that meanwhile has changes of its own takes
    /// the document's changes it lacks, through [`Replica::receive_within`].
    pub fn receive_document_within(
        &mut self,
        bytes: &[u8],
        signatures: &[Signature],
        budget: &Budget<'_>,
    ) -> Result<Received, ReceiveError> {
        let loaded = match guarded(|| Automerge::load(bytes)) {
            Some(Ok(doc)) => doc,
            Some(Err(e)) => return Err(ReceiveError::Automerge(e.to_string())),
            None => {
                return Err(ReceiveError::Panicked {
                    step: "loading a document",
                    reload: false,
                });
            }
        };
        budget.check("loading the document")?;
        if !loaded.get_missing_deps(&[]).is_empty() {
            return Err(ReceiveError::MissingDependencies {
                count: loaded.get_missing_deps(&[]).len(),
            });
        }
        let metas = loaded.get_changes_meta(&[]);
        if metas.len() > MAX_BATCH_CHANGES {
            return Err(ReceiveError::TooMany(metas.len()));
        }
        if metas.len() != signatures.len() {
            return Err(ReceiveError::SignatureCount {
                changes: metas.len(),
                signatures: signatures.len(),
            });
        }
        let mut ops: u64 = 0;
        for m in &metas {
            let n = m.max_op.saturating_add(1).saturating_sub(m.start_op);
            if n > crate::protocol::MAX_CHANGE_OPS as u64 {
                return Err(ChangeError::TooManyOps {
                    hash: m.hash.to_string(),
                    ops: n as usize,
                }
                .into());
            }
            ops += n;
        }
        if ops > MAX_BATCH_OPS {
            return Err(ReceiveError::OverBudget(format!(
                "the document holds {ops} operations, more than the limit of {MAX_BATCH_OPS}"
            )));
        }
        match loaded.get_change_meta_by_hash(&self.id.0) {
            Some(genesis) if genesis.deps.is_empty() => {}
            _ => return Err(ReceiveError::WrongAlliance(self.id.short())),
        }
        let mut by_hash: Vec<ChangeHash> = metas.iter().map(|m| m.hash).collect();
        by_hash.sort();
        let sig_of: HashMap<ChangeHash, Signature> = by_hash
            .into_iter()
            .zip(signatures.iter().copied())
            .collect();
        let mut memo = Authors::default();
        let authors = metas
            .iter()
            .map(|m| {
                memo.of(&m.actor)
                    .ok_or_else(|| ChangeError::BadAuthor(m.hash.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nodes: Vec<Node<'_>> = metas
            .iter()
            .zip(&authors)
            .map(|(m, author)| Node {
                hash: m.hash,
                author: *author,
                deps: &m.deps,
            })
            .collect();
        for i in signatures_to_check(&nodes) {
            if !authors[i].verify_change(&metas[i].hash, &sig_of[&metas[i].hash]) {
                return Err(ChangeError::BadSignature {
                    hash: metas[i].hash.to_string(),
                    author: authors[i].short(),
                }
                .into());
            }
        }
        budget.check("checking signatures")?;
        let claims: Vec<Claim<'_>> = metas
            .iter()
            .zip(&authors)
            .map(|(m, a)| (m.hash, m.deps.as_slice(), *a))
            .collect();
        self.check_authors(&loaded, &claims, budget)?;
        if let Some(hash) = first_misnumbered(&metas) {
            return Err(ChangeError::Malformed(format!(
                "change {hash} numbers its operations inside its own past"
            ))
            .into());
        }
        drop(claims);
        let total = metas.len();
        drop(metas);
        if self.is_empty() {
            self.doc = loaded;
            self.signatures = sig_of;
            self.seq_counts = None;
            return Ok(Received {
                new: Vec::new(),
                duplicates: 0,
                loaded: total,
                equivocations: 0,
                dropped: 0,
            });
        }
        // Another session filled this replica meanwhile: take what it lacks, through the same
        // checks as any batch (equivocations included).
        let added =
            guarded(|| self.doc.get_changes_added(&loaded)).ok_or(ReceiveError::Panicked {
                step: "comparing histories",
                reload: false,
            })?;
        let batch = added
            .into_iter()
            .map(|c| {
                let sig = sig_of.get(&c.hash()).ok_or_else(|| {
                    ReceiveError::Automerge(format!("change {} has no signature", c.hash()))
                })?;
                Ok(SignedChange::from_bytes(
                    c.raw_bytes().to_vec(),
                    &sig.to_bytes(),
                )?)
            })
            .collect::<Result<Vec<_>, ReceiveError>>()?;
        let mut received = self.receive_within(batch, budget)?;
        received.duplicates += total.saturating_sub(received.new.len() + received.dropped);
        Ok(received)
    }

    /// Checks that the author of every change was a member device as of its dependencies, in
    /// `doc` (which holds the changes' whole past).
    fn check_authors(
        &self,
        doc: &Automerge,
        claims: &[Claim<'_>],
        budget: &Budget<'_>,
    ) -> Result<(), ReceiveError> {
        match self.first_unauthorised(doc, claims, budget) {
            Some(i) if i == claims.len() => {
                budget.check("checking membership")?;
                Err(ReceiveError::Panicked {
                    step: "checking membership",
                    reload: false,
                })
            }
            Some(i) => Err(ReceiveError::NotAMember {
                hash: claims[i].0.to_string(),
                author: claims[i].2.short(),
            }),
            None => Ok(()),
        }
    }

    /// The first of `claims` (change, its dependencies, its author) whose author was not a
    /// member device as of the change's dependencies in `doc`; `claims.len()` when the check
    /// could not finish (Automerge panicked, or the budget's time ran out). Large lists are
    /// checked on every core (each check is two historical reads; the answer does not depend
    /// on how the list is split: the earliest failing position wins).
    fn first_unauthorised(
        &self,
        doc: &Automerge,
        claims: &[Claim<'_>],
        budget: &Budget<'_>,
    ) -> Option<usize> {
        const PER_THREAD_MIN: usize = 4096;
        const STEP: usize = 1024;
        let unfinished = claims.len();
        let check = |offset: usize, part: &[Claim<'_>]| {
            for (n, step) in part.chunks(STEP).enumerate() {
                if budget.expired() {
                    return Some(unfinished);
                }
                if let Some(i) = step
                    .iter()
                    .position(|(hash, deps, author)| !self.authorised(doc, hash, deps, author))
                {
                    return Some(offset + n * STEP + i);
                }
            }
            None
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(claims.len() / PER_THREAD_MIN)
            .max(1);
        if threads == 1 {
            return guarded(|| check(0, claims)).unwrap_or(Some(unfinished));
        }
        let per = claims.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = claims
                .chunks(per)
                .enumerate()
                .map(|(n, part)| scope.spawn(move || check(n * per, part)))
                .collect();
            parts
                .into_iter()
                .filter_map(|p| p.join().unwrap_or(Some(unfinished)))
                .min()
        })
    }

    /// Puts the document back as it was before a batch that failed while being applied in
    /// place (heads `before`), and returns the error to report. Nothing to do when Automerge
    /// refused before changing anything; otherwise every change but the batch's is applied to
    /// a fresh document. If that fails too, [`ReceiveError::Poisoned`]: reload the replica.
    fn undo(
        &mut self,
        before: &[ChangeHash],
        batch: &HashSet<ChangeHash>,
        error: ReceiveError,
    ) -> ReceiveError {
        // Usually Automerge refused before changing anything (a duplicate sequence number, say).
        if guarded(|| self.doc.get_heads()).is_some_and(|heads| heads == before) {
            return error;
        }
        let rebuilt = guarded(|| {
            let kept: Vec<Change> = self
                .doc
                .get_changes(&[])
                .into_iter()
                .filter(|c| !batch.contains(&c.hash()))
                .collect();
            let mut doc = Automerge::new();
            doc.apply_changes(kept).map(|()| doc)
        });
        match rebuilt {
            Some(Ok(doc)) if doc.get_heads() == before => {
                self.doc = doc;
                error
            }
            // The replica can no longer be trusted: its owner must load it again from what
            // was persisted (everything persisted was verified).
            _ => ReceiveError::Poisoned(error.to_string()),
        }
    }

    /// Every change after `heads` (all of them for `&[]`), with its signature, in causal order.
    /// A change whose signature is missing is left out and its hash returned in the error list.
    pub fn changes_since(
        &self,
        heads: &[ChangeHash],
    ) -> (Vec<SignedChange<Verified>>, Vec<ChangeHash>) {
        let mut out = Vec::new();
        let mut unsigned = Vec::new();
        for change in self.doc.get_changes(heads) {
            match self.signatures.get(&change.hash()) {
                Some(sig) => out.push(SignedChange::from_trusted_store(change, *sig)),
                None => unsigned.push(change.hash()),
            }
        }
        (out, unsigned)
    }

    /// What is wrong with one change of this replica's history, if anything: signature present
    /// and valid under the change's author, and author a member device as of its dependencies.
    fn check(&self, change: &Change) -> Option<String> {
        let hash = change.hash();
        match (author_of(change), self.signatures.get(&hash)) {
            (Err(e), _) => Some(e.to_string()),
            (Ok(_), None) => Some("signature is missing".to_string()),
            (Ok(a), Some(sig)) if !a.verify_change(&hash, sig) => Some(format!(
                "signature does not verify under author {}",
                a.short()
            )),
            (Ok(a), Some(_)) if !self.authorised(&self.doc, &hash, change.deps(), &a) => {
                Some(format!(
                    "author {} was not a member device at that point of the history",
                    a.short()
                ))
            }
            _ => None,
        }
    }

    /// Of changes each claimed to be signed by a device, the ones whose stored signature is
    /// missing or does not verify under that device (checked in batches, see
    /// [`failing_signatures`](crate::core::identity::failing_signatures)).
    pub fn unsigned_by(&self, claims: &[(ChangeHash, DeviceId)]) -> HashSet<ChangeHash> {
        let mut bad: HashSet<ChangeHash> = HashSet::new();
        let mut signed = Vec::with_capacity(claims.len());
        for (hash, device) in claims {
            match self.signatures.get(hash) {
                Some(sig) => signed.push((*device, *hash, *sig)),
                None => {
                    bad.insert(*hash);
                }
            }
        }
        for i in crate::core::identity::failing_signatures(&signed) {
            bad.insert(signed[i].1);
        }
        bad
    }

    /// Re-checks every change of the history (see [`Replica::check`]), in causal order, and
    /// that the alliance's genesis change is there.
    pub fn verify_history(&self) -> Vec<ChangeCheck> {
        let changes = self.doc.get_changes(&[]);
        let mut checks: Vec<ChangeCheck> = changes
            .iter()
            .map(|change| ChangeCheck {
                hash: change.hash().to_string(),
                device: author_of(change).ok().map(|a| a.to_hex()),
                problem: self.check(change),
            })
            .collect();
        if !changes.is_empty() && !changes.iter().any(|c| c.hash() == self.id.0) {
            checks.push(ChangeCheck {
                hash: self.id.to_string(),
                device: None,
                problem: Some("the alliance's genesis change is missing".to_string()),
            });
        }
        checks
    }

    /// The history, newest first, with authors' names and each change's verification verdict.
    /// A change that fails verification is never attributed to the person it claims.
    pub fn log(&self) -> Vec<LogEntry> {
        let view = self.roster();
        let mut entries: Vec<LogEntry> = self
            .doc
            .get_changes(&[])
            .iter()
            .map(|change| self.entry(&view, change))
            .collect();
        entries.reverse();
        entries
    }

    /// One change of the history with its verdict and, only when it verifies, its author's
    /// name (from `view`). `None` when the history does not hold `hash`.
    pub fn attribute(&self, view: &AllianceView, hash: &ChangeHash) -> Option<LogEntry> {
        let change = self.doc.get_change_by_hash(hash)?;
        Some(self.entry(view, &change))
    }

    fn entry(&self, view: &AllianceView, change: &Change) -> LogEntry {
        let problem = self.check(change);
        let device = author_of(change).map(|a| a.to_hex()).unwrap_or_default();
        let member = if problem.is_none() {
            view.member_of_device(&device)
        } else {
            None
        };
        LogEntry {
            hash: change.hash().to_string(),
            author: member
                .map(|m| m.name.clone())
                .unwrap_or_else(|| "unknown".to_string()),
            member: member.map(|m| m.id.clone()),
            device,
            time: Timestamp(change.timestamp()),
            summary: change.message().unwrap_or_default().to_string(),
            verified: problem.is_none(),
            problem,
            equivocation: self
                .quarantine
                .proof_for(change.actor_id(), change.seq())
                .map(|p| {
                    format!(
                        "its author also signed change {} with the same number {}; that one was left out",
                        &p.other.hash[..12.min(p.other.hash.len())],
                        p.seq
                    )
                }),
        }
    }
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

    fn change_at(&self, actor: &ActorId, seq: u64) -> Option<(Vec<u8>, ChangeHash, Signature)> {
        let hash = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .find(|m| m.seq == seq && m.actor.as_ref() == actor)?
            .hash;
        let change = self.doc.get_change_by_hash(&hash)?;
        let sig = self.signatures.get(&hash)?;
        Some((change.raw_bytes().to_vec(), hash, *sig))
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
    doc.set_actor(writer.actor());
    let mut tx = doc.transaction();
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

pub(crate) fn put_member(
    tx: &mut Transaction<'_>,
    members: &automerge::ObjId,
    id: &ItemId,
    name: &str,
    role: &str,
    added_by: Option<&ItemId>,
    now: Timestamp,
) -> Result<(), AutomergeError> {
    let m = tx.put_object(members, id.as_str(), ObjType::Map)?;
    tx.put(&m, "name", name)?;
    tx.put(&m, "role", role)?;
    tx.put(&m, "added_by", added_by.map(|a| a.as_str()).unwrap_or(""))?;
    tx.put(&m, "added_at", now.0)?;
    Ok(())
}

pub(crate) fn put_device(
    tx: &mut Transaction<'_>,
    devices: &automerge::ObjId,
    key_hex: &str,
    member: &ItemId,
    added_by: &str,
    now: Timestamp,
) -> Result<(), AutomergeError> {
    let d = tx.put_object(devices, key_hex, ObjType::Map)?;
    tx.put(&d, "member", member.as_str())?;
    tx.put(&d, "added_by", added_by)?;
    tx.put(&d, "added_at", now.0)?;
    Ok(())
}

/// Trims `s` and refuses an empty result.
pub(crate) fn non_empty(what: &'static str, s: &str) -> Result<String, EditError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(EditError::Empty(what));
    }
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

/// Applies verified changes in one call (never one call per change: each call costs about
/// what the history costs).
fn apply_all(doc: &mut Automerge, changes: &[SignedChange<Verified>]) -> Result<(), ReceiveError> {
    let plain: Vec<Change> = changes.iter().map(|c| c.change().clone()).collect();
    match guarded(|| doc.apply_changes(plain)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(ReceiveError::Automerge(e.to_string())),
        None => Err(ReceiveError::Panicked {
            step: "applying the changes",
            reload: false,
        }),
    }
}

/// The first change of a whole history (its metadata, as Automerge loaded it) whose operations
/// are not numbered after everything in its past (see [`Replica::check_op_ranges`]).
fn first_misnumbered(metas: &[automerge::ChangeMetadata<'_>]) -> Option<ChangeHash> {
    let max_of: HashMap<ChangeHash, u64> = metas.iter().map(|m| (m.hash, m.max_op)).collect();
    let mut by_actor: HashMap<&ActorId, Vec<(u64, u64, u64)>> = HashMap::new();
    for m in metas {
        let past = m
            .deps
            .iter()
            .map(|d| max_of.get(d).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        if m.start_op <= past {
            return Some(m.hash);
        }
        by_actor
            .entry(m.actor.as_ref())
            .or_default()
            .push((m.seq, m.start_op, m.max_op));
    }
    for changes in by_actor.values_mut() {
        changes.sort_unstable();
        if changes.windows(2).any(|w| w[1].1 <= w[0].2) {
            let (seq, start, _) = changes[changes.windows(2).position(|w| w[1].1 <= w[0].2)? + 1];
            return metas
                .iter()
                .find(|m| m.seq == seq && m.start_op == start)
                .map(|m| m.hash);
        }
    }
    None
}

/// Whether the changes `doc` holds after `before` are exactly `changes`, byte for byte.
/// Automerge can apply a change whose operations refer to what its history does not hold and
/// only fail (panic) when it rebuilds the change later, for a sync or a save; such a change
/// must never stay. Costs one pass over the new changes' operations.
fn comes_back_out(
    doc: &Automerge,
    before: &[ChangeHash],
    changes: &[SignedChange<Verified>],
) -> bool {
    let Some(out) = guarded(|| doc.get_changes(before)) else {
        return false;
    };
    let sent: HashMap<ChangeHash, &[u8]> =
        changes.iter().map(|c| (c.hash(), c.raw_bytes())).collect();
    out.len() == sent.len()
        && out
            .iter()
            .all(|c| sent.get(&c.hash()) == Some(&c.raw_bytes()))
}

/// Decodes an authenticated batch (see [`Authenticated::decode`]) and holds it to
/// [`MAX_BATCH_OPS`] and the budget's time.
fn decode_within(
    authenticated: Authenticated,
    budget: &Budget<'_>,
) -> Result<Vec<SignedChange<Verified>>, ReceiveError> {
    let verified = authenticated.decode()?;
    let ops: u64 = verified.iter().map(|c| c.change().len() as u64).sum();
    if ops > MAX_BATCH_OPS {
        return Err(ReceiveError::OverBudget(format!(
            "the batch holds {ops} operations, more than the limit of {MAX_BATCH_OPS}"
        )));
    }
    budget.check("decoding")?;
    Ok(verified)
}

/// The membership claims of verified changes.
fn claims_of(changes: &[SignedChange<Verified>]) -> Vec<Claim<'_>> {
    let mut memo = Authors::default();
    changes
        .iter()
        .map(|c| {
            let author = memo
                .of(c.actor_id())
                .expect("verified changes have a valid author");
            (c.hash(), c.deps(), author)
        })
        .collect()
}

/// Runs an Automerge call on data from outside; a panic inside Automerge becomes `None`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

impl From<EditError> for ReceiveError {
    fn from(e: EditError) -> Self {
        ReceiveError::Automerge(e.to_string())
    }
}
