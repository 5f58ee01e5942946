//! Receiving a batch of changes ([`Replica::receive`]), and the checks every received change
//! goes through on either way in (a batch here, a whole document in `document`, which splits
//! the document into its changes and hands them here). Every check runs before the batch
//! reaches any document:
//! - authorship: [`authenticate_batch`];
//! - membership as of each change's dependencies: [`Replica::check_authors`] on the raw headers
//!   against the replica for a live edit; change by change against the replica and the
//!   batch's [`Ledger`] for a batch that builds on itself ([`Replica::judge_in_order`]);
//! - operation numbering: [`check_op_ranges`];
//! - operation limits: [`within_change_ops`](crate::core::trust::signed::within_change_ops) per
//!   change and [`within_batch_ops`] per batch, checked after [`decode_within`];
//! - the rules of who may write what: [`Replica::check_rules`] or [`Replica::judge_in_order`].
//!
//! Then one apply, in place ([`Replica::apply_judged`]), and the read-back check
//! ([`comes_back_out`]; a whole document an empty replica takes as parsed needs none).

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, Automerge, Change, ChangeHash, ChangeMetadata};

use super::{ActorTip, Budget, ReceiveError, Received, Replica};
use crate::constants::{MAX_BATCH_CHANGES, MAX_BATCH_OPS};
use crate::core::ItemId;
use crate::core::trust::equivocation;
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;
use crate::core::trust::ledger::Ledger;
use crate::core::trust::rules;
use crate::core::trust::signed::{
    Authenticated, Authors, ChangeError, Claim, SignedChange, Unverified, Verified,
    authenticate_batch,
};

impl Replica {
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
    /// Order of checks on the raw bytes, before Automerge parses any change: size limits;
    /// equivocations and quarantined actors (see [`equivocation`](crate::core::trust::equivocation):
    /// such changes, and what depends on them, are left out and reported, the rest goes on);
    /// every dependency is in the batch or in the replica (nothing is left waiting in
    /// Automerge's queue); the alliance's genesis change is there; no gap in an actor's
    /// sequence numbers; authorship ([`authenticate_batch`]: each author's newest changes have
    /// their signatures checked, and those vouch for the author's older changes in the batch).
    ///
    /// Then every change's author must have been a member device as of that change's
    /// dependencies, and every change must keep the rules of who may write what. When every
    /// change of the batch depends only on changes the replica already holds (a live edit),
    /// membership is checked on the raw headers against the replica as it is, before
    /// Automerge decodes the changes (guarded against panics); the operation limits and the
    /// rules are checked after decoding, and the batch is applied in place, in one call.
    /// Otherwise (a batch that builds on itself) Automerge decodes each change on its own and
    /// each is judged in causal order, membership and rules, against the replica and the
    /// batch's ledger ([`Replica::judge_in_order`]); the batch is applied in place, in one
    /// call, only if every change passed.
    /// `budget` bounds the time; a batch over it is abandoned with nothing applied.
    pub fn receive_within(
        &mut self,
        batch: Vec<SignedChange<Unverified>>,
        budget: &Budget<'_>,
    ) -> Result<Received, ReceiveError> {
        self.receive_judged(batch, budget, None)
    }

    /// [`Replica::receive_within`]; `parsed`, when given, is the whole batch as Automerge
    /// parsed it from a document (see `document`): once every change has passed, an empty
    /// replica takes it as it is instead of applying the changes again.
    pub(super) fn receive_judged(
        &mut self,
        batch: Vec<SignedChange<Unverified>>,
        budget: &Budget<'_>,
        parsed: Option<Automerge>,
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
        self.check_dependencies(&fresh, &fresh_hashes)?;
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
        // A batch that builds only on what the replica holds (a live edit): membership on the
        // raw headers, against the replica, before Automerge decodes anything.
        let people = if builds_on_batch {
            None
        } else {
            Some(self.check_authors(&self.doc, &authenticated.claims(), budget)?)
        };
        let verified = decode_within(authenticated, budget)?;
        check_op_ranges(verified.iter().map(Numbering::from), Past::Replica(self))?;
        let removes = match people {
            Some(people) => {
                self.check_rules(&self.doc, authored_changes(&verified), &people, budget)?
            }
            // Judged change by change in causal order, against the replica and the batch's
            // ledger: nothing of the batch is in any document yet.
            None => self.judge_in_order(&verified, budget)?,
        };
        match parsed {
            Some(doc) if self.is_empty() && received.dropped == 0 && received.duplicates == 0 => {
                // Every change of the document passed: take it as Automerge parsed it.
                #[cfg(any(test, feature = "test-hooks"))]
                super::hooks::applied();
                self.doc = doc;
                self.seq_counts = Default::default();
                for c in &verified {
                    self.keep_signature(c);
                }
                let total = verified.len();
                let withdrawn = self.withdraw_concurrent_with_removals();
                self.quarantine = quarantine;
                received.loaded = total - withdrawn.len();
                received.dropped = withdrawn.len();
                return Ok(received);
            }
            _ => self.apply_judged(&verified, &fresh_hashes)?,
        }
        let verified = (verified, removes);
        let (mut verified, removes) = verified;
        // Kept before the withdrawal pass, which works out what vouches for what.
        for c in &verified {
            self.keep_signature(c);
        }
        let authors: Vec<DeviceId> = authored_changes(&verified)
            .into_iter()
            .map(|(_, a)| a)
            .collect::<HashSet<DeviceId>>()
            .into_iter()
            .collect();
        if self.touches_removals(removes, &authors) {
            let withdrawn = self.withdraw_concurrent_with_removals();
            if !withdrawn.is_empty() {
                let before = verified.len();
                verified.retain(|c| !withdrawn.contains(&c.hash()));
                received.dropped += before - verified.len();
                if withdrawn.len() > before - verified.len() {
                    // It held some of them before this batch: its store must be rewritten.
                    self.rewritten = true;
                }
            }
        }
        self.note_seqs(&verified);
        self.quarantine = quarantine;
        received.new = verified;
        Ok(received)
    }

    /// Applies changes that passed every check to the replica, in place, in one call, and
    /// reads them back. A refusal by Automerge (no change kept) is undone; a panic, or a
    /// change that does not come back out byte for byte, leaves the replica to be reloaded.
    pub(super) fn apply_judged(
        &mut self,
        verified: &[SignedChange<Verified>],
        fresh_hashes: &HashSet<ChangeHash>,
    ) -> Result<(), ReceiveError> {
        let before = self.doc.get_heads();
        match apply_all(&mut self.doc, verified) {
            Ok(()) => {}
            // Automerge's state after a panic cannot be trusted, whatever its heads say.
            Err(ReceiveError::Panicked { step, .. }) => {
                self.seq_counts = Default::default();
                self.poisoned = true;
                return Err(ReceiveError::Panicked { step, reload: true });
            }
            Err(e) => return Err(self.undo(&before, fresh_hashes, e)),
        }
        if !comes_back_out(&self.doc, &before, verified) {
            self.seq_counts = Default::default();
            self.poisoned = true;
            return Err(ReceiveError::Panicked {
                step: "reading the changes back",
                reload: true,
            });
        }
        Ok(())
    }

    /// Judges a batch that builds on itself before any of it reaches a document: change by
    /// change in causal order, each as of its dependencies, read from the replica (the past
    /// it holds) and the batch's [`Ledger`] (the batch's changes before it). For each change:
    /// its author's standing ([`rules::standing_in`]: a member device, or the change is
    /// refused); its operations traced to their paths; the rules ([`rules::judge_in`]). Then the ledger notes what it wrote. Returns
    /// whether a change removed a person or a device.
    pub(super) fn judge_in_order(
        &self,
        verified: &[SignedChange<Verified>],
        budget: &Budget<'_>,
    ) -> Result<bool, ReceiveError> {
        const STEP: usize = 1024;
        let mut ledger = Ledger::new(&self.doc);
        let mut paths = rules::Paths::default();
        let mut removes = false;
        let mut authors = Authors::default();
        for (n, c) in verified.iter().enumerate() {
            if n % STEP == STEP - 1 {
                budget.check("checking the rules")?;
            }
            let change = c.change();
            let hash = c.hash();
            let i = ledger
                .enter(hash, change.actor_id(), change.seq(), change.deps())
                .map_err(|_| {
                    ReceiveError::OverBudget(
                        "the batch's history is too tangled to check within the limits".into(),
                    )
                })?;
            let author = authors
                .of(change.actor_id())
                .expect("verified changes have a valid author");
            let genesis = hash == self.id.0;
            let person = if genesis {
                if !change.deps().is_empty() {
                    return Err(ReceiveError::NotAMember {
                        hash: hash.to_string(),
                        author: author.short(),
                    });
                }
                None
            } else if let Some(p) = ledger.known_member(i, &author) {
                Some(p.clone())
            } else if let Some(frontier) = ledger.replica_only(i) {
                // Nothing of the batch in its past bears on standing: the replica answers, with
                // its shortcut through the present (one historical read).
                let person = guarded(|| rules::member_at(&self.doc, &author, frontier)).ok_or(
                    ReceiveError::Panicked {
                        step: "checking membership",
                        reload: false,
                    },
                )?;
                match person {
                    Some(p) => Some(p),
                    None => {
                        return Err(ReceiveError::NotAMember {
                            hash: hash.to_string(),
                            author: author.short(),
                        });
                    }
                }
            } else {
                let point = ledger.point(i);
                let standing = guarded(|| rules::standing_in(&point, &author)).ok_or(
                    ReceiveError::Panicked {
                        step: "checking membership",
                        reload: false,
                    },
                )?;
                match standing.refusal(&hash, &author) {
                    None => standing.writer().cloned(),
                    Some(rules::Refusal::Rule(broken)) => return Err(broken.into()),
                    Some(rules::Refusal::NotAMember) => {
                        return Err(ReceiveError::NotAMember {
                            hash: hash.to_string(),
                            author: author.short(),
                        });
                    }
                }
            };
            let expanded = guarded(|| change.decode()).ok_or(ReceiveError::Panicked {
                step: "reading a change's operations",
                reload: false,
            })?;
            let mut traced = rules::trace(&self.doc, change, expanded, &author, &mut paths)?;
            if let Some(person) = &person {
                let point = ledger.point(i);
                match guarded(|| rules::judge_in(&point, &traced, person)) {
                    Some(Ok(r)) => removes |= r,
                    Some(Err(b)) => return Err(b.into()),
                    None => {
                        return Err(ReceiveError::Panicked {
                            step: "checking the rules",
                            reload: false,
                        });
                    }
                }
            }
            if let Some(p) = person {
                ledger.member_found(i, author, p);
            }
            for obj in traced.made() {
                ledger.made(i, obj.clone());
            }
            let noted = traced.take_noted();
            ledger.note(i, noted);
        }
        Ok(removes)
    }

    /// The dependency check of a batch: every dependency of a fresh change is in the batch
    /// (`fresh_hashes`) or in the replica, so nothing is left waiting in Automerge's queue.
    fn check_dependencies(
        &self,
        fresh: &[SignedChange<Unverified>],
        fresh_hashes: &HashSet<ChangeHash>,
    ) -> Result<(), ReceiveError> {
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
        Ok(())
    }

    /// Whether `device` was a member device in the document as of `deps` (added, and neither
    /// it nor its person removed).
    fn member_at(&self, doc: &Automerge, device: &DeviceId, deps: &[ChangeHash]) -> bool {
        rules::member_at(doc, device, deps).is_some()
    }

    /// Checks every change against the rules of who may write what ([`rules::trace`], then
    /// [`rules::judge`]), in `doc` (which holds the changes' whole past). Tracing runs in order
    /// (an object is made before it is written to); judging reads the past as of each change's
    /// dependencies, independently, on every core for a large batch (the earliest failing
    /// change is the one reported, however the list is split). Returns whether one of the
    /// changes removed a person or a device.
    pub(super) fn check_rules<'c>(
        &self,
        doc: &Automerge,
        changes: impl IntoIterator<Item = (&'c Change, DeviceId)>,
        people: &rules::People,
        budget: &Budget<'_>,
    ) -> Result<bool, ReceiveError> {
        const PER_THREAD_MIN: usize = 4096;
        const STEP: usize = 1024;
        let mut paths = rules::Paths::default();
        let mut traced = Vec::new();
        for (n, (change, author)) in changes.into_iter().enumerate() {
            if change.hash() == self.id.0 {
                continue;
            }
            let expanded = guarded(|| change.decode()).ok_or(ReceiveError::Panicked {
                step: "reading a change's operations",
                reload: false,
            })?;
            traced.push(rules::trace(doc, change, expanded, &author, &mut paths)?);
            if n % STEP == STEP - 1 {
                budget.check("checking the rules")?;
            }
        }
        // The first failure of a part: `Err(None)` when the part could not finish (Automerge
        // panicked, or the time ran out).
        let judge = |part: &[rules::Traced]| -> Result<bool, Option<(usize, rules::Broken)>> {
            let mut removes = false;
            for (n, step) in part.chunks(STEP).enumerate() {
                if budget.expired() {
                    return Err(None);
                }
                for (i, t) in step.iter().enumerate() {
                    match guarded(|| rules::judge(doc, t, people.get(t.hash()))) {
                        Some(Ok(r)) => removes |= r,
                        Some(Err(b)) => return Err(Some((n * STEP + i, b))),
                        None => return Err(None),
                    }
                }
            }
            Ok(removes)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(traced.len() / PER_THREAD_MIN)
            .max(1);
        let per = traced.len().div_ceil(threads).max(1);
        let results: Vec<Result<bool, Option<(usize, rules::Broken)>>> = if threads == 1 {
            vec![judge(&traced)]
        } else {
            std::thread::scope(|scope| {
                let parts: Vec<_> = traced
                    .chunks(per)
                    .enumerate()
                    .map(|(k, part)| {
                        let judge = &judge;
                        scope.spawn(move || {
                            judge(part).map_err(|e| e.map(|(i, b)| (k * per + i, b)))
                        })
                    })
                    .collect();
                parts
                    .into_iter()
                    .map(|p| p.join().unwrap_or(Err(None)))
                    .collect()
            })
        };
        let mut removes = false;
        let mut first: Option<(usize, rules::Broken)> = None;
        for r in results {
            match r {
                Ok(r) => removes |= r,
                Err(None) => {
                    budget.check("checking the rules")?;
                    return Err(ReceiveError::Panicked {
                        step: "checking the rules",
                        reload: false,
                    });
                }
                Err(Some((i, b))) => {
                    if first.as_ref().is_none_or(|(j, _)| i < *j) {
                        first = Some((i, b));
                    }
                }
            }
        }
        match first {
            Some((_, broken)) => Err(broken.into()),
            None => Ok(removes),
        }
    }

    /// Whether a change is authorised: the genesis change of this alliance, or a change whose
    /// author device was a member as of its dependencies.
    pub(super) fn authorised(
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

    /// Checks that the author of every change was a member device as of its dependencies, in
    /// `doc` (which holds the changes' whole past), for claims in causal order; returns each
    /// change's person for the rules (see [`rules::people_of`]: one read of the past per
    /// device and branch, not one per change).
    pub(super) fn check_authors(
        &self,
        doc: &Automerge,
        claims: &[Claim<'_>],
        budget: &Budget<'_>,
    ) -> Result<rules::People, ReceiveError> {
        const STEP: usize = 1024;
        let mut checked = 0usize;
        let found = rules::people_of(doc, claims, |i| {
            checked += 1;
            if checked.is_multiple_of(STEP) && budget.expired() {
                return Err(rules::Unfinished);
            }
            let (hash, deps, author) = &claims[i];
            if *hash == self.id.0 {
                // The genesis change: authorised without dependencies; its author is the
                // founder's device, whom it adds.
                return Ok(deps.is_empty().then(|| ItemId::from_doc_key("")));
            }
            guarded(|| rules::member_at(doc, author, deps)).ok_or(rules::Unfinished)
        });
        let Ok(found) = found else {
            budget.check("checking membership")?;
            return Err(ReceiveError::Panicked {
                step: "checking membership",
                reload: false,
            });
        };
        let mut people = rules::People::with_capacity(claims.len());
        for ((hash, deps, author), person) in claims.iter().zip(found) {
            match person {
                None if guarded(|| rules::keeper_at(doc, author, deps)).unwrap_or(false) => {
                    return Err(rules::by_keeper(hash, author).into());
                }
                None => {
                    return Err(ReceiveError::NotAMember {
                        hash: hash.to_string(),
                        author: author.short(),
                    });
                }
                Some(p) => {
                    people.insert(*hash, p);
                }
            }
        }
        Ok(people)
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
}

/// The past that received changes are numbered against: the replica they join.
pub(super) enum Past<'r> {
    Replica(&'r mut Replica),
}

impl Past<'_> {
    /// The last operation of change `hash` of the past (0 when it holds no such change).
    fn max_op_of(&self, hash: &ChangeHash) -> u64 {
        let Past::Replica(replica) = self;
        replica
            .doc
            .get_change_meta_by_hash(hash)
            .map_or(0, |m| m.max_op)
    }

    /// The newest change of `actor` before the changes being checked (none for a whole
    /// history: its own changes are all being checked).
    fn tip(&mut self, actor: &ActorId) -> ActorTip {
        let Past::Replica(replica) = self;
        replica.tip(actor)
    }
}

/// How one change numbers its operations, as [`check_op_ranges`] reads it: from a decoded
/// change of a batch, or from Automerge's metadata of a loaded document.
pub(super) struct Numbering<'a> {
    hash: ChangeHash,
    actor: &'a ActorId,
    seq: u64,
    start_op: u64,
    max_op: u64,
    deps: &'a [ChangeHash],
}

impl<'a> From<&'a SignedChange<Verified>> for Numbering<'a> {
    fn from(c: &'a SignedChange<Verified>) -> Self {
        let change = c.change();
        Numbering {
            hash: c.hash(),
            actor: change.actor_id(),
            seq: change.seq(),
            start_op: change.start_op().get(),
            max_op: change.max_op(),
            deps: change.deps(),
        }
    }
}

impl<'a> From<&'a ChangeMetadata<'_>> for Numbering<'a> {
    fn from(m: &'a ChangeMetadata<'_>) -> Self {
        Numbering {
            hash: m.hash,
            actor: m.actor.as_ref(),
            seq: m.seq,
            start_op: m.start_op,
            max_op: m.max_op,
            deps: &m.deps,
        }
    }
}

/// Every change's operations must be numbered after everything in its past: after its
/// dependencies' and after its own actor's previous change. Automerge numbers an honest
/// change that way, but applies one that is not without complaint, and then cannot rebuild
/// the history (operation IDs collide).
///
/// `changes` come in causal order: a batch as [`authenticate_batch`] orders it, a loaded
/// document as Automerge lists it (each actor's changes by number: it refuses to load a
/// document whose changes of one actor are out of order). A change's past is the changes
/// before it and `past`; its actor's previous change is the actor's highest-numbered one so
/// far.
pub(super) fn check_op_ranges<'a>(
    changes: impl IntoIterator<Item = Numbering<'a>>,
    mut past: Past<'_>,
) -> Result<(), ChangeError> {
    let mut in_batch: HashMap<ChangeHash, u64> = HashMap::new();
    let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
    for c in changes {
        let start = c.start_op;
        let mut before = 0;
        for d in c.deps {
            let max = match in_batch.get(d) {
                Some(m) => *m,
                None => past.max_op_of(d),
            };
            before = before.max(max);
        }
        if !tips.contains_key(c.actor) {
            let tip = past.tip(c.actor);
            tips.insert(c.actor.clone(), tip);
        }
        let tip = tips.get_mut(c.actor).expect("inserted");
        before = before.max(tip.max_op);
        if start <= before || c.max_op < start.saturating_sub(1) {
            return Err(ChangeError::Malformed(format!(
                "change {} numbers its operations from {start}, inside its own past (up to {before})",
                c.hash
            )));
        }
        tip.note(c.seq, c.max_op);
        in_batch.insert(c.hash, c.max_op);
    }
    Ok(())
}

/// Holds a batch (or a whole document: `what`) to [`MAX_BATCH_OPS`] operations.
pub(super) fn within_batch_ops(ops: u64, what: &str) -> Result<(), ReceiveError> {
    if ops > MAX_BATCH_OPS {
        return Err(ReceiveError::OverBudget(format!(
            "the {what} holds {ops} operations, more than the limit of {MAX_BATCH_OPS}"
        )));
    }
    Ok(())
}

/// Applies verified changes in one call (never one call per change: each call costs about
/// what the history costs).
fn apply_all(doc: &mut Automerge, changes: &[SignedChange<Verified>]) -> Result<(), ReceiveError> {
    let plain: Vec<Change> = changes.iter().map(|c| c.change().clone()).collect();
    #[cfg(any(test, feature = "test-hooks"))]
    super::hooks::applied();
    match guarded(|| doc.apply_changes(plain)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(ReceiveError::Automerge(e.to_string())),
        None => Err(ReceiveError::Panicked {
            step: "applying the changes",
            reload: false,
        }),
    }
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

/// Decodes an authenticated batch (see [`Authenticated::decode`], which holds each change to
/// [`MAX_CHANGE_OPS`](crate::constants::MAX_CHANGE_OPS)) and holds it to [`MAX_BATCH_OPS`] and
/// the budget's time.
fn decode_within(
    authenticated: Authenticated,
    budget: &Budget<'_>,
) -> Result<Vec<SignedChange<Verified>>, ReceiveError> {
    let verified = authenticated.decode()?;
    let ops: u64 = verified.iter().map(|c| c.change().len() as u64).sum();
    within_batch_ops(ops, "batch")?;
    budget.check("decoding")?;
    Ok(verified)
}

/// Verified changes with their authors.
fn authored_changes(changes: &[SignedChange<Verified>]) -> Vec<(&Change, DeviceId)> {
    let mut memo = Authors::default();
    changes
        .iter()
        .map(|c| {
            let author = memo
                .of(c.actor_id())
                .expect("verified changes have a valid author");
            (c.change(), author)
        })
        .collect()
}
