//! Auditing what a replica holds, without changing it: every change re-checked
//! ([`Replica::verify_history`]), the history with verdicts and authors' names
//! ([`Replica::log`], [`Replica::attribute`]), signatures re-checked for claimed authors
//! ([`Replica::unsigned_by`]), and the signed changes after a point ([`Replica::changes_since`]).
//!
//! A change is named after its author only when it verifies: its signature is present and valid
//! under the device its actor ID names, and that device was a member as of the change's
//! dependencies (the membership check of `receive`, [`Replica::authorised`]).

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash, ReadDoc};
use ed25519_dalek::Signature;
use serde::Serialize;

use super::{Replica, guarded};
use crate::core::identity::DeviceId;
use crate::core::ids::{ItemId, Timestamp};
use crate::core::model::AllianceView;
use crate::core::rules;
use crate::core::signed::{SignedChange, Verified, author_of};
use crate::core::verdicts::Verdicts;

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

    /// Uses `verdicts` for the review commands' checks from now on (the store loads them
    /// from its cache; see [`verdicts`](crate::core::verdicts)).
    pub fn use_verdicts(&mut self, verdicts: Verdicts) {
        *self.verdicts.lock() = verdicts;
    }

    /// The verdicts as they stand (to save when [`Verdicts::added`] is not zero).
    pub fn verdicts(&self) -> Verdicts {
        self.verdicts.lock().clone()
    }

    /// What is wrong with one change of this replica's history, if anything: signature present
    /// and valid under the change's author, and author a member device as of its dependencies.
    /// A change an earlier check passed, with the same signature, is not checked again.
    fn check(&self, facts: &Facts<'_>, author: Option<DeviceId>) -> Option<String> {
        self.check_with(facts, author, true)
    }

    /// [`Replica::check`]; with `cached` false every part is checked (for `verify`).
    fn check_with(
        &self,
        facts: &Facts<'_>,
        author: Option<DeviceId>,
        cached: bool,
    ) -> Option<String> {
        let hash = facts.hash;
        let problem = match (author, self.signatures.get(&hash)) {
            (None, _) => {
                Some(crate::core::signed::ChangeError::BadAuthor(hash.to_string()).to_string())
            }
            (Some(_), None) => Some("signature is missing".to_string()),
            (Some(_), Some(sig)) if cached && self.verdicts.lock().holds(&hash, sig) => None,
            (Some(a), Some(sig)) if !a.verify_change(&hash, sig) => Some(format!(
                "signature does not verify under author {}",
                a.short()
            )),
            (Some(a), Some(_)) if !self.authorised(&self.doc, &hash, facts.deps, &a) => {
                Some(format!(
                    "author {} was not a member device at that point of the history",
                    a.short()
                ))
            }
            _ => None,
        };
        if problem.is_none()
            && let Some(sig) = self.signatures.get(&hash)
        {
            self.verdicts.lock().record(&hash, sig);
        }
        problem
    }

    /// Whether a check of this change, with the signature stored now, passed before (its
    /// signature verified under its author, and the author was a member device as of its
    /// dependencies); see [`Replica::check_ahead`].
    pub fn holds_verdict(&self, hash: &ChangeHash) -> bool {
        self.signatures
            .get(hash)
            .is_some_and(|sig| self.verdicts.lock().holds(hash, sig))
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
        {
            let verdicts = self.verdicts.lock();
            for (facts, author) in changes {
                let hash = facts.hash;
                let Some(sig) = self.signatures.get(&hash) else {
                    continue;
                };
                if verdicts.holds(&hash, sig) {
                    continue;
                }
                if let Some(author) = author {
                    claims.push((*author, hash, *sig, facts.deps));
                }
            }
        }
        if claims.is_empty() {
            return;
        }
        let signed: Vec<(DeviceId, ChangeHash, Signature)> =
            claims.iter().map(|(a, h, s, _)| (*a, *h, *s)).collect();
        let failing: HashSet<usize> = crate::core::identity::failing_signatures(&signed)
            .into_iter()
            .collect();
        // Membership as of each change's dependencies, one read of the past per device and
        // branch (see `rules::people_of`).
        let listed: Vec<crate::core::signed::Claim<'_>> = claims
            .iter()
            .map(|(a, h, _, deps)| (*h, *deps, *a))
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
        for (i, ((_, hash, sig, _), person)) in claims.iter().zip(people).enumerate() {
            if !failing.contains(&i) && person.is_some() {
                self.verdicts.lock().record(hash, sig);
            }
        }
    }

    /// [`Replica::check`], and the rules of who may write what (see
    /// [`rules`](crate::core::rules)), for `verify`.
    fn check_fully(&self, change: &Change, paths: &mut rules::Paths) -> Option<String> {
        if let Some(problem) = self.check_with(&Facts::from(change), author_of(change).ok(), false)
        {
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

    /// Re-checks every change of the history (see [`Replica::check`]) and the rules of who
    /// may write what, in causal order, and that the alliance's genesis change is there.
    pub fn verify_history(&self) -> Vec<ChangeCheck> {
        let changes = self.doc.get_changes(&[]);
        let mut paths = rules::Paths::default();
        let mut checks: Vec<ChangeCheck> = changes
            .iter()
            .map(|change| ChangeCheck {
                hash: change.hash().to_string(),
                device: author_of(change).ok().map(|a| a.to_hex()),
                problem: self.check_fully(change, &mut paths),
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
        let mut authors = crate::core::signed::Authors::default();
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
    /// [`Attributor`](crate::core::history::Attributor) checks them together.)
    pub fn attribute(&self, view: &AllianceView, hash: &ChangeHash) -> Option<LogEntry> {
        let meta = self.doc.get_change_meta_by_hash(hash)?;
        let facts = Facts::from(&meta);
        let author = crate::core::signed::author_of_actor(facts.actor);
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
