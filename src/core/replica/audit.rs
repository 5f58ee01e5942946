//! Auditing what a replica holds, without changing it: every change re-checked
//! ([`Replica::verify_history`]), the history with verdicts and authors' names
//! ([`Replica::log`], [`Replica::attribute`]), signatures re-checked for claimed authors
//! ([`Replica::unsigned_by`]), and the signed changes after a point ([`Replica::changes_since`]).
//!
//! A change is named after its author only when it verifies: a signature vouches for it and is
//! valid under the device its actor ID names, and that device was a member as of the change's
//! dependencies (the membership check of `receive`, [`Replica::authorised`]). The signature
//! that vouches for a change is its own, or that of a later change of the same author that has
//! it in its past ([`vouch`](crate::core::trust::vouch)): a receiver keeps only the signatures that
//! travelled, one per author and batch.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash, ReadDoc};
use ed25519_dalek::Signature;
use serde::Serialize;

use super::Replica;
use crate::core::document::model::AllianceView;
use crate::core::ids::{ItemId, Timestamp};
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;
use crate::core::trust::rules;
use crate::core::trust::signed::{SignedChange, Verified, Voucher, author_of};
use crate::core::trust::verdicts::Verdicts;
use crate::core::trust::vouch::Vouchers;

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
    /// number (an equivocation; see [`crate::core::trust::equivocation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivocation: Option<String>,
}

impl LogEntry {
    /// What the change did, for a line that names its author already: the summary without a
    /// leading "NAME " (`Ada agreed to …` beside "Ada" reads `agreed to …`).
    pub fn what(&self) -> &str {
        self.summary
            .strip_prefix(self.author.as_str())
            .and_then(|rest| rest.strip_prefix(' '))
            .filter(|_| self.verified)
            .unwrap_or(&self.summary)
    }
}

impl Replica {
    /// Every change after `heads` (all of them for `&[]`), in causal order, with its own
    /// signature when this replica keeps one. To send them, see [`Replica::for_sending`].
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<SignedChange<Verified>> {
        self.doc
            .get_changes(heads)
            .into_iter()
            .map(|change| self.as_kept(change))
            .collect()
    }

    /// A change of this history with what this replica keeps to vouch for it itself.
    pub(crate) fn as_kept(&self, change: Change) -> SignedChange<Verified> {
        let voucher = self.kept_voucher(&change.hash());
        SignedChange::from_trusted_store(change, voucher)
    }

    /// What this replica keeps to vouch for a change itself: its signature, or its proof.
    pub(crate) fn kept_voucher(&self, hash: &ChangeHash) -> Option<Voucher> {
        match (self.signatures.get(hash), self.proofs.get(hash)) {
            (Some(sig), _) => Some(Voucher::Signature(*sig)),
            (None, Some(proof)) => Some(Voucher::Proof(proof.clone())),
            (None, None) => None,
        }
    }

    /// The signature that vouches for a change of this history: its own, or that of a later
    /// change of its author that has it in its past. Returns the signed change's hash and the
    /// signature; `None` when neither is kept here.
    /// For a signature kept in a [`Proof`] (its change withdrawn by a removal), the hash is
    /// that of the withdrawn change, once the proof's chain is found to lead there.
    pub fn vouching(&self, hash: &ChangeHash) -> Option<(ChangeHash, Signature)> {
        self.kept_vouching(&self.voucher_of(hash)?)
    }

    /// The change of this history whose own signature or proof vouches for `hash`: itself, or
    /// one of its author's later changes that has it in its past.
    pub(crate) fn voucher_of(&self, hash: &ChangeHash) -> Option<ChangeHash> {
        if self.signatures.contains_key(hash) || self.proofs.contains_key(hash) {
            return Some(*hash);
        }
        self.vouchers().of.get(hash).copied()
    }

    /// What change `hash` keeps to vouch for itself: (signed hash, signature).
    fn kept_vouching(&self, hash: &ChangeHash) -> Option<(ChangeHash, Signature)> {
        if let Some(sig) = self.signatures.get(hash) {
            return Some((*hash, *sig));
        }
        let proof = self.proofs.get(hash)?;
        let meta = self.doc.get_change_meta_by_hash(hash)?;
        let author = crate::core::trust::signed::author_of_actor(meta.actor.as_ref())?;
        Some((proof.signed_hash(hash, &author)?, proof.signature))
    }

    /// The vouchers for the present heads, worked out when first asked (from Automerge's
    /// metadata of every change, unless [`Replica::prime_vouchers`] gave them from the index).
    fn vouchers(&self) -> std::sync::Arc<Vouchers> {
        let heads = self.doc.get_heads();
        let mut cell = self.vouchers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cell.as_ref()
            && v.heads == heads
        {
            return v.clone();
        }
        let metas = self.doc.get_changes_meta(&[]);
        let v = std::sync::Arc::new(
            self.work_out_vouchers(
                heads,
                metas
                    .iter()
                    .map(|m| (m.hash, m.deps.as_slice(), m.actor.as_ref())),
            ),
        );
        *cell = Some(v.clone());
        v
    }

    /// Works the vouchers out from the history index instead of Automerge's metadata (a pass
    /// over every change's header that the review commands would otherwise pay): when the
    /// index is of the present heads and none are known yet.
    pub fn prime_vouchers(&self, index: &crate::core::document::index::ChangeIndex) {
        let heads = self.doc.get_heads();
        let mut indexed = index.heads().to_vec();
        indexed.sort();
        if indexed != heads {
            return;
        }
        let mut cell = self.vouchers.0.lock().unwrap_or_else(|p| p.into_inner());
        if cell.as_ref().is_some_and(|v| v.heads == heads) {
            return;
        }
        let v = self.work_out_vouchers(
            heads,
            index
                .entries()
                .iter()
                .map(|e| (e.hash, e.deps.as_slice(), &e.actor)),
        );
        *cell = Some(std::sync::Arc::new(v));
    }

    /// [`vouch::vouchers`](crate::core::trust::vouch::vouchers) over the changes of a history, given
    /// in causal order as (hash, dependencies, actor).
    fn work_out_vouchers<'m>(
        &self,
        heads: Vec<ChangeHash>,
        changes: impl Iterator<Item = (ChangeHash, &'m [ChangeHash], &'m automerge::ActorId)>,
    ) -> Vouchers {
        let mut authors = crate::core::trust::signed::Authors::default();
        let nodes: Vec<(ChangeHash, &[ChangeHash], Option<DeviceId>)> = changes
            .map(|(hash, deps, actor)| (hash, deps, authors.of(actor)))
            .collect();
        let signed: Vec<bool> = nodes
            .iter()
            .map(|n| self.signatures.contains_key(&n.0) || self.proofs.contains_key(&n.0))
            .collect();
        let found = crate::core::trust::vouch::vouchers(&nodes, &signed);
        let of = found
            .iter()
            .enumerate()
            .filter(|(i, v)| !signed[*i] && v.is_some())
            .map(|(i, v)| (nodes[i].0, nodes[v.expect("filtered")].0))
            .collect();
        Vouchers { heads, of }
    }

    /// A proof for `hash` from what vouches for it here (the changes up to its vouching change,
    /// and that change's signature or proof): for a change whose vouching change is about to
    /// be withdrawn, or one shown in an equivocation proof. `None` when nothing here vouches
    /// for it, or it vouches for itself.
    pub(crate) fn proof_for(&self, hash: &ChangeHash) -> Option<crate::core::trust::signed::Proof> {
        let voucher = self.voucher_of(hash)?;
        if voucher == *hash {
            return None;
        }
        let path = self.path_between(hash, &voucher)?;
        let found = self.changes_of(&path);
        let mut via: Vec<Vec<u8>> = path
            .iter()
            .map(|h| found.get(h).map(|c| c.raw_bytes().to_vec()))
            .collect::<Option<_>>()?;
        let signature = match (self.signatures.get(&voucher), self.proofs.get(&voucher)) {
            (Some(sig), _) => *sig,
            (None, Some(p)) => {
                via.extend(p.via.iter().cloned());
                p.signature
            }
            (None, None) => return None,
        };
        Some(crate::core::trust::signed::Proof { via, signature })
    }

    /// Forgets the vouchers worked out so far (signatures or proofs changed, not the heads).
    pub(crate) fn forget_vouchers(&self) {
        *self.vouchers.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The changes from `from` (excluded) to its descendant `to` (included), each depending on
    /// the one before: why `to`'s signature vouches for `from`. `None` when `to` does not have
    /// `from` in its past.
    pub(crate) fn path_between(
        &self,
        from: &ChangeHash,
        to: &ChangeHash,
    ) -> Option<Vec<ChangeHash>> {
        let metas = self.doc.get_changes_meta(&[]);
        let nodes: Vec<(ChangeHash, &[ChangeHash], Option<DeviceId>)> = metas
            .iter()
            .map(|m| (m.hash, m.deps.as_slice(), None))
            .collect();
        let at = |h: &ChangeHash| metas.iter().position(|m| m.hash == *h);
        let path = crate::core::trust::vouch::path(&nodes, at(from)?, at(to)?)?;
        Some(path.into_iter().map(|i| metas[i].hash).collect())
    }

    /// Changes to send, as they travel: each author's newest changes among them carry their
    /// signatures and the rest go without (see [`vouch`](crate::core::trust::vouch)). When one of those
    /// newest changes has no signature here (a batch cut short: a push split in parts, or a
    /// change the peer asked for by hash), the changes up to a later change of its author that
    /// has one are added. Whatever is added the peer may hold already; it counts them as
    /// duplicates.
    pub fn for_sending(&self, changes: Vec<SignedChange<Verified>>) -> Vec<SignedChange<Verified>> {
        let mut changes = changes;
        // Each round adds, for every newest change without a signature, the way to the
        // signature that vouches for it; that change is signed, so a round never repeats.
        for _ in 0..4 {
            let Ok(nodes) = crate::core::trust::signed::authored(
                changes.iter().map(|c| (c.hash(), c.actor_id(), c.deps())),
            ) else {
                // A change naming no device key cannot be in a replica; send as it is.
                return changes;
            };
            let newest = crate::core::trust::vouch::signatures_to_check(&nodes);
            drop(nodes);
            let mut missing = Vec::new();
            for &i in &newest {
                if changes[i].voucher().is_none() {
                    let voucher = self.kept_voucher(&changes[i].hash());
                    if voucher.is_none() {
                        missing.push(changes[i].hash());
                    }
                    changes[i].set_voucher(voucher);
                }
            }
            if missing.is_empty() {
                crate::core::trust::signed::keep_only_checked(&mut changes, &newest, |c| {
                    c.set_voucher(None)
                });
                return changes;
            }
            let have: HashSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
            let mut more = Vec::new();
            for h in missing {
                let Some(voucher) = self.voucher_of(&h) else {
                    continue;
                };
                for p in self.path_between(&h, &voucher).unwrap_or_default() {
                    if !have.contains(&p) && !more.contains(&p) {
                        more.push(p);
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            let found = self.changes_of(&more);
            for h in more {
                if let Some(c) = found.get(&h) {
                    changes.push(self.as_kept(c.clone()));
                }
            }
        }
        changes
    }

    /// Uses `verdicts` for the review commands' checks from now on (the store loads them
    /// from its cache; see [`verdicts`](crate::core::trust::verdicts)).
    pub fn use_verdicts(&mut self, verdicts: Verdicts) {
        *self.verdicts.lock() = verdicts;
    }

    /// The verdicts as they stand (to save when [`Verdicts::added`] is not zero).
    pub fn verdicts(&self) -> Verdicts {
        self.verdicts.lock().clone()
    }

    /// What is wrong with one change of this replica's history, if anything: a signature vouches
    /// for it and is valid under the change's author, and the author was a member device as of
    /// its dependencies. A change an earlier check passed, with the same vouching signature, is
    /// not checked again.
    fn check(&self, facts: &Facts<'_>, author: Option<DeviceId>) -> Option<String> {
        self.check_with(facts, author, Signatures::Cached)
    }

    /// [`Replica::check`]; with [`Signatures::Known`] the verdicts are not read (for `verify`).
    fn check_with(
        &self,
        facts: &Facts<'_>,
        author: Option<DeviceId>,
        signatures: Signatures<'_>,
    ) -> Option<String> {
        let hash = facts.hash;
        let vouching = self.vouching(&hash);
        let problem = match (author, vouching) {
            (None, _) => {
                Some(crate::core::trust::signed::ChangeError::BadAuthor(hash.to_string()).to_string())
            }
            (Some(_), None) => Some(
                "no signature vouches for it (neither its own nor one of its author's later changes')"
                    .to_string(),
            ),
            (Some(_), Some((_, sig)))
                if matches!(signatures, Signatures::Cached)
                    && self.verdicts.lock().holds(&hash, &sig) =>
            {
                None
            }
            (Some(a), Some((signed, sig))) if !signatures.valid(&a, &signed, &sig) => {
                Some(if signed == hash {
                    format!("signature does not verify under author {}", a.short())
                } else {
                    format!(
                        "the signature of change {} that vouches for it does not verify under author {}",
                        &signed.to_string()[..12],
                        a.short()
                    )
                })
            }
            (Some(a), Some(_)) if !self.authorised(&self.doc, &hash, facts.deps, &a) => {
                Some(if rules::keeper_at(&self.doc, &a, facts.deps) {
                    rules::by_keeper(&hash, &a).to_string()
                } else {
                    format!(
                    "author {} was not a member device at that point of the history",
                    a.short()
                )
                })
            }
            _ => None,
        };
        if problem.is_none()
            && let Some((_, sig)) = vouching
        {
            self.verdicts.lock().record(&hash, &sig);
        }
        problem
    }

    /// Whether a check of this change, with the signature that vouches for it now, passed
    /// before (the signature verified under its author, and the author was a member device as
    /// of its dependencies); see [`Replica::check_ahead`].
    pub fn holds_verdict(&self, hash: &ChangeHash) -> bool {
        self.vouching(hash)
            .is_some_and(|(_, sig)| self.verdicts.lock().holds(hash, &sig))
    }

    /// The changes of `hashes` the history holds, read back from the document in one pass.
    /// (Automerge reads a change back by walking the document's operations, so reading many
    /// one at a time costs a walk each.)
    pub fn changes_of(&self, hashes: &[ChangeHash]) -> HashMap<ChangeHash, Change> {
        let held: Vec<ChangeHash> = hashes.iter().copied().filter(|h| self.has(h)).collect();
        if held.is_empty() {
            return HashMap::new();
        }
        let bulk = guarded(|| {
            self.doc
                .bundle(held.iter().copied())
                .ok()?
                .to_changes()
                .ok()
        })
        .flatten();
        match bulk {
            Some(changes) => changes.into_iter().map(|c| (c.hash(), c)).collect(),
            None => held
                .iter()
                .filter_map(|h| Some((*h, self.doc.get_change_by_hash(h)?)))
                .collect(),
        }
    }

    /// Checks many changes ahead of showing them (see [`Replica::check`]): the signatures of
    /// those without a verdict in batches, then their authors' membership, recording a verdict
    /// for each that passes. What fails is left for [`Replica::attribute`] to explain. Best
    /// given in causal order (membership then costs one read of the past per device).
    pub fn check_ahead(&self, changes: &[(Facts<'_>, Option<DeviceId>)]) {
        let mut claims = Vec::new();
        for (facts, author) in changes {
            let hash = facts.hash;
            let Some((signed, sig)) = self.vouching(&hash) else {
                continue;
            };
            if self.verdicts.lock().holds(&hash, &sig) {
                continue;
            }
            if let Some(author) = author {
                claims.push((*author, hash, sig, facts.deps, signed));
            }
        }
        if claims.is_empty() {
            return;
        }
        // Each vouching signature once: most changes share their author's later signature.
        let mut signed: Vec<(DeviceId, ChangeHash, Signature)> =
            claims.iter().map(|(a, _, s, _, h)| (*a, *h, *s)).collect();
        signed.sort_by_key(|(a, h, _)| (*h, *a.as_bytes()));
        signed.dedup_by_key(|(a, h, _)| (*h, *a.as_bytes()));
        let failing: HashSet<(ChangeHash, DeviceId)> =
            crate::core::trust::identity::failing_signatures(&signed)
                .into_iter()
                .map(|i| (signed[i].1, signed[i].0))
                .collect();
        // Membership as of each change's dependencies, one read of the past per device and
        // branch (see `rules::people_of`).
        let listed: Vec<crate::core::trust::signed::Claim<'_>> = claims
            .iter()
            .map(|(a, h, _, deps, _)| (*h, *deps, *a))
            .collect();
        let people = rules::people_of(&self.doc, &listed, |i| {
            let (hash, deps, author) = &listed[i];
            Ok(if *hash == self.id.0 {
                deps.is_empty()
                    .then(|| crate::core::ItemId::from_doc_key(""))
            } else {
                guarded(|| rules::member_at(&self.doc, author, deps)).flatten()
            })
        })
        .unwrap_or_default();
        for ((author, hash, sig, _, signed), person) in claims.iter().zip(people) {
            if !failing.contains(&(*signed, *author)) && person.is_some() {
                self.verdicts.lock().record(hash, sig);
            }
        }
    }

    /// [`Replica::check`], and the rules of who may write what (see
    /// [`rules`](crate::core::trust::rules)), for `verify`; `failing` are the stored signatures that
    /// do not verify (all of them checked once, up front).
    fn check_fully(
        &self,
        change: &Change,
        paths: &mut rules::Paths,
        failing: &HashSet<ChangeHash>,
    ) -> Option<String> {
        if let Some(problem) = self.check_with(
            &Facts::from(change),
            author_of(change).ok(),
            Signatures::Known(failing),
        ) {
            return Some(problem);
        }
        if change.hash() == self.id.0 {
            return None;
        }
        let author = author_of(change).ok()?;
        let Some(expanded) = guarded(|| change.decode()) else {
            return Some("its operations cannot be read".to_string());
        };
        rules::check(&self.doc, change, expanded, &author, paths)
            .err()
            .map(|broken| format!("it breaks the rule that {} ({})", broken.rule, broken.what))
    }

    /// Of changes each claimed to be signed by a device, the ones for which no stored signature
    /// vouches, or whose vouching signature does not verify under that device (checked in
    /// batches, see [`failing_signatures`](crate::core::trust::identity::failing_signatures)).
    pub fn unsigned_by(&self, claims: &[(ChangeHash, DeviceId)]) -> HashSet<ChangeHash> {
        let mut bad: HashSet<ChangeHash> = HashSet::new();
        let mut signed = Vec::with_capacity(claims.len());
        let mut of = Vec::with_capacity(claims.len());
        for (hash, device) in claims {
            match self.vouching(hash) {
                Some((s, sig)) => {
                    signed.push((*device, s, sig));
                    of.push(*hash);
                }
                None => {
                    bad.insert(*hash);
                }
            }
        }
        for i in crate::core::trust::identity::failing_signatures(&signed) {
            bad.insert(of[i]);
        }
        bad
    }

    /// Every stored signature that does not verify under the device its change names (by the
    /// hash it is over; for a proof, the last change of its chain).
    fn failing_stored_signatures(&self) -> HashSet<ChangeHash> {
        let metas = self.doc.get_changes_meta(&[]);
        let mut authors = crate::core::trust::signed::Authors::default();
        let signed: Vec<(DeviceId, ChangeHash, Signature)> = metas
            .iter()
            .filter_map(|m| {
                let author = authors.of(&m.actor)?;
                match (self.signatures.get(&m.hash), self.proofs.get(&m.hash)) {
                    (Some(sig), _) => Some((author, m.hash, *sig)),
                    (None, Some(p)) => {
                        Some((author, p.signed_hash(&m.hash, &author)?, p.signature))
                    }
                    (None, None) => None,
                }
            })
            .collect();
        crate::core::trust::identity::failing_signatures(&signed)
            .into_iter()
            .map(|i| signed[i].1)
            .collect()
    }

    /// Re-checks every change of the history (see [`Replica::check`]) and the rules of who
    /// may write what, in causal order, and that the alliance's genesis change is there. Every
    /// stored signature is checked, and every change is attributed through the signature that
    /// vouches for it.
    pub fn verify_history(&self) -> Vec<ChangeCheck> {
        let changes = self.doc.get_changes(&[]);
        let failing = self.failing_stored_signatures();
        let mut paths = rules::Paths::default();
        let mut checks: Vec<ChangeCheck> = changes
            .iter()
            .map(|change| ChangeCheck {
                hash: change.hash().to_string(),
                device: author_of(change).ok().map(|a| a.to_hex()),
                problem: self.check_fully(change, &mut paths, &failing),
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
        let metas = self.doc.get_changes_meta(&[]);
        let mut authors = crate::core::trust::signed::Authors::default();
        let listed: Vec<(Facts<'_>, Option<DeviceId>)> = metas
            .iter()
            .map(|m| (Facts::from(m), authors.of(&m.actor)))
            .collect();
        self.check_ahead(&listed);
        let mut entries: Vec<LogEntry> = listed
            .iter()
            .map(|(facts, author)| self.entry(&view, facts, *author))
            .collect();
        entries.reverse();
        entries
    }

    /// One change of the history with its verdict and, only when it verifies, its author's
    /// name (from `view`). `None` when the history does not hold `hash`. (For many changes,
    /// [`Attributor`](crate::core::document::history::Attributor) checks them together.)
    pub fn attribute(&self, view: &AllianceView, hash: &ChangeHash) -> Option<LogEntry> {
        let meta = self.doc.get_change_meta_by_hash(hash)?;
        let facts = Facts::from(&meta);
        let author = crate::core::trust::signed::author_of_actor(facts.actor);
        Some(self.entry(view, &facts, author))
    }

    /// [`Replica::attribute`] for a change's header already read, with its author (`None`
    /// when its actor names no device).
    pub fn entry(
        &self,
        view: &AllianceView,
        facts: &Facts<'_>,
        author: Option<DeviceId>,
    ) -> LogEntry {
        let problem = self.check(facts, author);
        let device = author.map(|a| a.to_hex()).unwrap_or_default();
        let member = if problem.is_none() {
            view.member_of_device(&device)
        } else {
            None
        };
        LogEntry {
            hash: facts.hash.to_string(),
            author: member
                .map(|m| m.name.clone())
                .unwrap_or_else(|| "unknown".to_string()),
            member: member.map(|m| m.id.clone()),
            device,
            time: Timestamp(facts.time),
            summary: facts.message.unwrap_or_default().to_string(),
            verified: problem.is_none(),
            problem,
            equivocation: self
                .quarantine
                .proof_for(facts.actor, facts.seq)
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

/// How a check learns whether a vouching signature verifies.
#[derive(Clone, Copy)]
enum Signatures<'a> {
    /// Trust a verdict kept for it; otherwise verify it.
    Cached,
    /// Every stored signature was verified up front; these failed.
    Known(&'a HashSet<ChangeHash>),
}

impl Signatures<'_> {
    fn valid(&self, author: &DeviceId, signed: &ChangeHash, sig: &Signature) -> bool {
        match self {
            Signatures::Cached => author.verify_change(signed, sig),
            Signatures::Known(failing) => !failing.contains(signed),
        }
    }
}

/// What attribution reads of a change: its header, not its operations (Automerge keeps the
/// headers in its change graph, so reading one is cheap, while reading a whole change back
/// walks the document's operations).
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub hash: ChangeHash,
    pub actor: &'a automerge::ActorId,
    pub seq: u64,
    pub deps: &'a [ChangeHash],
    pub time: i64,
    pub message: Option<&'a str>,
}

impl<'a> From<&'a Change> for Facts<'a> {
    fn from(c: &'a Change) -> Self {
        Facts {
            hash: c.hash(),
            actor: c.actor_id(),
            seq: c.seq(),
            deps: c.deps(),
            time: c.timestamp(),
            message: c.message(),
        }
    }
}

impl<'a> From<&'a automerge::ChangeMetadata<'_>> for Facts<'a> {
    fn from(m: &'a automerge::ChangeMetadata<'_>) -> Self {
        Facts {
            hash: m.hash,
            actor: m.actor.as_ref(),
            seq: m.seq,
            deps: &m.deps,
            time: m.timestamp,
            message: m.message.as_deref(),
        }
    }
}
