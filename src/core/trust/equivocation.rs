//! Equivocation: two validly signed changes with the same actor and sequence number.
//!
//! An Automerge actor numbers its changes 1, 2, 3, … and every replica indexes them that way,
//! so two different changes both claiming (actor, 5) can never sit in one document: a replica
//! that holds one refuses the other forever, and with it everything built on it. It happens
//! when a device is cloned or restored from a backup and edits again, or when a member forges
//! changes under one of their own actors.
//!
//! A replica therefore screens every batch on the raw headers, before anything else:
//! - a change whose (actor, seq) is already taken by another change is an equivocation. When
//!   its signature verifies under its author, both changes (bytes and signatures) are kept as
//!   an [`Equivocation`], a proof anyone can check, and the actor is quarantined from that
//!   sequence number on;
//! - changes of a quarantined actor from that sequence number on, and every change that
//!   depends on a change left out, are left out (their hashes are remembered, so a peer that
//!   offers them again costs nothing);
//! - everything else goes on through the usual checks, so honest peers keep syncing.
//!
//! The actor's earlier changes stay: both branches share them. Pure logic; the store persists
//! the [`Quarantine`].

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, ChangeHash};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::core::trust::identity::DeviceId;
use crate::core::trust::signed::{
    ChangeError, Proof, SignedChange, Unverified, Voucher, author_of_actor,
};
use crate::core::trust::vouch::signatures_to_check;

/// One change of a proof, as it was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The change hash (hex).
    pub hash: String,
    /// The change's bytes (hex).
    pub change: String,
    /// The author's signature (hex): over this change's hash, or, when `vouched_by` is not
    /// empty, over the last of those changes.
    pub signature: String,
    /// When the change has no signature of its own: the changes (hex bytes) from it to a later
    /// change of its author that has it in its past, each depending on the one before (the
    /// first on this change). The signature on the last vouches for all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vouched_by: Vec<String>,
}

/// A change as a proof shows it: its bytes and hash, and the signature that vouches for it,
/// with the changes in between when that signature is on a later change of its author.
#[derive(Debug, Clone)]
pub struct Signed {
    pub bytes: Vec<u8>,
    pub hash: ChangeHash,
    pub vouched_by: Vec<Vec<u8>>,
    pub signature: Signature,
}

impl Evidence {
    fn of(signed: &Signed) -> Evidence {
        Evidence {
            hash: signed.hash.to_string(),
            change: hex::encode(&signed.bytes),
            signature: hex::encode(signed.signature.to_bytes()),
            vouched_by: signed.vouched_by.iter().map(hex::encode).collect(),
        }
    }

    /// The change's hash, actor and number, when its signature (or the one on the last change
    /// of `vouched_by`, which must have it in its past through them) verifies under its author.
    fn check(&self) -> Option<(ChangeHash, ActorId, u64)> {
        let c = SignedChange::from_parts(hex::decode(&self.change).ok()?, None).ok()?;
        let author = author_of_actor(c.actor_id())?;
        let signature =
            ed25519_dalek::Signature::from_slice(&hex::decode(&self.signature).ok()?).ok()?;
        let vouched = if self.vouched_by.is_empty() {
            author.verify_change(&c.hash(), &signature)
        } else {
            let via = self
                .vouched_by
                .iter()
                .map(|link| hex::decode(link).ok())
                .collect::<Option<Vec<_>>>()?;
            Proof { via, signature }.vouches(&c.hash(), &author)
        };
        vouched.then(|| (c.hash(), c.actor_id().clone(), c.raw().seq()))
    }
}

/// A proof that an actor signed two different changes with one sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The actor (hex): the author's device key, then its actor tag.
    pub actor: String,
    /// The author's device key (hex).
    pub device: String,
    pub seq: u64,
    /// The change this replica held (or met first).
    pub kept: Evidence,
    /// The other change, which this replica left out.
    pub other: Evidence,
}

impl Equivocation {
    fn new(author: &DeviceId, seq: u64, kept: &Signed, other: &Signed, actor: &ActorId) -> Self {
        Equivocation {
            actor: actor.to_hex_string(),
            device: author.to_hex(),
            seq,
            kept: Evidence::of(kept),
            other: Evidence::of(other),
        }
    }

    /// Checks the proof on its own: two different changes, each with the stated actor and
    /// sequence number, each signed by the actor's device key (itself, or through a later
    /// change of that key that has it in its past).
    pub fn verify(&self) -> bool {
        match (self.kept.check(), self.other.check()) {
            (Some((h1, a1, s1)), Some((h2, a2, s2))) => {
                h1 != h2
                    && a1 == a2
                    && s1 == s2
                    && s1 == self.seq
                    && a1.to_hex_string() == self.actor
            }
            _ => false,
        }
    }
}

/// What a replica remembers about equivocations: the proofs, and the changes it left out
/// because of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub proofs: Vec<Equivocation>,
    /// Hashes (hex) of changes left out: the other sides of the proofs, later changes of the
    /// quarantined actors, and everything built on them.
    pub excluded: Vec<String>,
    #[serde(skip)]
    excluded_set: HashSet<ChangeHash>,
    #[serde(skip)]
    from_seq: HashMap<ActorId, u64>,
    /// Counts changes since loading, so the store knows when to write.
    #[serde(skip)]
    generation: u64,
}

impl Quarantine {
    /// Rebuilds the lookup tables after deserialising. Proofs that do not verify are dropped.
    pub fn restored(mut self) -> Quarantine {
        self.proofs.retain(Equivocation::verify);
        self.excluded_set = self
            .excluded
            .iter()
            .filter_map(|h| h.parse().ok())
            .collect();
        self.from_seq.clear();
        for p in &self.proofs {
            if let Ok(bytes) = hex::decode(&p.actor) {
                let e = self.from_seq.entry(ActorId::from(bytes)).or_insert(p.seq);
                *e = (*e).min(p.seq);
            }
        }
        self
    }

    /// Changes since this quarantine was loaded (the store writes it when this moved).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_empty(&self) -> bool {
        self.proofs.is_empty() && self.excluded.is_empty()
    }

    /// Whether `actor`'s change number `seq` is quarantined.
    pub fn blocks(&self, actor: &ActorId, seq: u64) -> bool {
        self.from_seq.get(actor).is_some_and(|from| seq >= *from)
    }

    pub fn is_excluded(&self, hash: &ChangeHash) -> bool {
        self.excluded_set.contains(hash)
    }

    /// Records a proof; one per actor is enough (the actor is quarantined from the lowest
    /// number proven, and a proof at a lower number replaces it), so a cloned device's many
    /// collisions cost one proof.
    fn add_proof(&mut self, actor: &ActorId, proof: Equivocation) {
        self.generation += 1;
        self.from_seq.insert(actor.clone(), proof.seq);
        match self.proofs.iter_mut().find(|p| p.actor == proof.actor) {
            Some(old) => *old = proof,
            None => self.proofs.push(proof),
        }
    }

    /// Whether a proof at `seq` would quarantine `actor` from an earlier number than now.
    fn would_lower(&self, actor: &ActorId, seq: u64) -> bool {
        self.from_seq.get(actor).is_none_or(|from| seq < *from)
    }

    /// Remembers a left-out change, up to [`MAX_EXCLUDED`] of them (past that, a left-out
    /// change offered again is screened again, which costs little).
    fn exclude(&mut self, hash: ChangeHash) {
        if self.excluded_set.len() < MAX_EXCLUDED && self.excluded_set.insert(hash) {
            self.excluded.push(hash.to_string());
            self.generation += 1;
        }
    }

    /// The proof about `actor`'s change `seq`, if one is known.
    pub fn proof_for(&self, actor: &ActorId, seq: u64) -> Option<&Equivocation> {
        let hex = actor.to_hex_string();
        self.proofs.iter().find(|p| p.actor == hex && p.seq == seq)
    }
}

/// The most left-out change hashes a replica remembers.
pub const MAX_EXCLUDED: usize = 100_000;

/// What the replica knows that screening needs.
pub(crate) trait Held {
    /// How many changes of `actor` the replica holds (Automerge numbers them 1..=n).
    fn seq_count(&mut self, actor: &ActorId) -> u64;
    /// The change the replica holds at (`actor`, `seq`), with the signature that vouches for it.
    fn change_at(&self, actor: &ActorId, seq: u64) -> Option<Signed>;
    /// Whether `device` is a member device now.
    fn is_member(&self, device: &DeviceId) -> bool;
}

/// The first actor whose changes in `kept` do not continue its numbering without a gap
/// (checked once every dependency is known to be present: a batch that merely lacks an
/// author's earlier change is missing dependencies, not malformed). Automerge indexes an
/// actor's changes by number, and a gap would make it misfile every later change.
pub(crate) fn numbering_gap(
    kept: &[SignedChange<Unverified>],
    held: &mut dyn Held,
) -> Option<ActorId> {
    let mut seqs: HashMap<&ActorId, Vec<u64>> = HashMap::new();
    for c in kept {
        seqs.entry(c.actor_id()).or_default().push(c.raw().seq());
    }
    seqs.into_iter().find_map(|(actor, mut s)| {
        s.sort_unstable();
        let count = held.seq_count(actor);
        s.iter()
            .zip(count + 1..)
            .any(|(a, b)| *a != b)
            .then(|| actor.clone())
    })
}

/// The outcome of screening a batch.
pub(crate) struct Screened {
    pub kept: Vec<SignedChange<Unverified>>,
    pub proofs: usize,
    pub dropped: usize,
}

/// Screens the fresh changes of a batch (none of them held by the replica, no hash twice) for
/// equivocations and quarantined actors, updating `quarantine`; see the module docs. Refuses
/// the batch when an equivocating change's signature does not verify (a forgery, not a proof).
pub(crate) fn screen(
    fresh: Vec<SignedChange<Unverified>>,
    held: &mut dyn Held,
    quarantine: &mut Quarantine,
) -> Result<Screened, ChangeError> {
    let mut proofs = 0;
    let mut counts: HashMap<ActorId, u64> = HashMap::new();
    let mut first_at: HashMap<(ActorId, u64), usize> = HashMap::new();
    let mut out = vec![false; fresh.len()];
    let index: HashMap<ChangeHash, usize> = fresh
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); fresh.len()];
    for (i, c) in fresh.iter().enumerate() {
        for d in c.deps() {
            if let Some(&j) = index.get(d) {
                children[j].push(i);
            }
        }
    }
    // An equivocating change with the signature that vouches for it (its own, or one of its
    // author's later changes in the batch), which must verify: a forgery is not a proof.
    let signed = |i: usize| -> Result<(DeviceId, Signed), ChangeError> {
        let c = &fresh[i];
        let author = author_of_actor(c.actor_id())
            .ok_or_else(|| ChangeError::BadAuthor(c.hash().to_string()))?;
        let (path, signature) =
            vouched_in_batch(&fresh, &children, i, &author).ok_or_else(|| {
                ChangeError::Unvouched {
                    hash: c.hash().to_string(),
                    author: author.short(),
                }
            })?;
        let signer = path.last().map_or(c, |&j| &fresh[j]);
        if !author.verify_change(&signer.hash(), &signature) {
            return Err(ChangeError::BadSignature {
                hash: signer.hash().to_string(),
                author: author.short(),
            });
        }
        Ok((
            author,
            Signed {
                bytes: c.raw_bytes().to_vec(),
                hash: c.hash(),
                vouched_by: path
                    .iter()
                    .map(|&j| fresh[j].raw_bytes().to_vec())
                    .collect(),
                signature,
            },
        ))
    };
    for (i, c) in fresh.iter().enumerate() {
        let actor = c.actor_id();
        let seq = c.raw().seq();
        let count = *counts
            .entry(actor.clone())
            .or_insert_with(|| held.seq_count(actor));
        if seq <= count {
            let (author, other) = signed(i)?;
            out[i] = true;
            if quarantine.would_lower(actor, seq)
                && let Some(kept) = held.change_at(actor, seq)
            {
                let proof = Equivocation::new(&author, seq, &kept, &other, actor);
                quarantine.add_proof(actor, proof);
                proofs += 1;
            }
        } else if let Some(&j) = first_at.get(&(actor.clone(), seq)) {
            let (author, other) = signed(i)?;
            let (_, kept) = signed(j)?;
            if !held.is_member(&author) {
                return Err(ChangeError::Malformed(format!(
                    "two changes claim sequence number {seq} of one actor"
                )));
            }
            out[i] = true;
            out[j] = true;
            if quarantine.would_lower(actor, seq) {
                let proof = Equivocation::new(&author, seq, &kept, &other, actor);
                quarantine.add_proof(actor, proof);
                proofs += 1;
            }
        } else {
            first_at.insert((actor.clone(), seq), i);
        }
    }
    // Quarantined actors, and everything built on what is left out.
    let mut stack = Vec::new();
    for (i, c) in fresh.iter().enumerate() {
        if quarantine.blocks(c.actor_id(), c.raw().seq())
            || c.deps().iter().any(|d| quarantine.is_excluded(d))
        {
            out[i] = true;
        }
    }
    stack.extend((0..fresh.len()).filter(|&i| out[i]));
    while let Some(i) = stack.pop() {
        for &c in &children[i] {
            if !out[c] {
                out[c] = true;
                stack.push(c);
            }
        }
    }
    // A kept change whose only vouching change in the batch is left out keeps that change's
    // signature as a proof (the changes leading there are in the batch), so what is left out
    // does not take honest changes with it. The proof is checked with the rest.
    let mut proved: HashMap<usize, Proof> = HashMap::new();
    if out.iter().any(|o| *o) {
        let kept_at: Vec<usize> = (0..fresh.len()).filter(|&i| !out[i]).collect();
        let nodes = crate::core::trust::signed::authored(kept_at.iter().map(|&i| {
            let c = &fresh[i];
            (c.hash(), c.actor_id(), c.deps())
        }));
        for k in nodes
            .as_deref()
            .map(signatures_to_check)
            .unwrap_or_default()
        {
            let i = kept_at[k];
            let c = &fresh[i];
            if c.voucher().is_some() {
                continue;
            }
            let Some(author) = author_of_actor(c.actor_id()) else {
                continue;
            };
            if let Some((path, signature)) = vouched_in_batch(&fresh, &children, i, &author)
                && !path.is_empty()
            {
                let via = path
                    .iter()
                    .map(|&j| fresh[j].raw_bytes().to_vec())
                    .collect();
                proved.insert(i, Proof { via, signature });
            }
        }
    }
    let mut kept = Vec::with_capacity(fresh.len());
    let mut dropped = 0;
    for (i, (c, out)) in fresh.into_iter().zip(out).enumerate() {
        let c = match proved.remove(&i) {
            Some(proof) => c.with_voucher(Some(Voucher::Proof(proof))),
            None => c,
        };
        if out {
            quarantine.exclude(c.hash());
            dropped += 1;
        } else {
            kept.push(c);
        }
    }
    Ok(Screened {
        kept,
        proofs,
        dropped,
    })
}

/// The signature that vouches for change `i` of a batch: its own, or that of the nearest later
/// change of `author` in the batch that has it in its past, with the changes leading there
/// (positions; empty for its own).
fn vouched_in_batch(
    batch: &[SignedChange<Unverified>],
    children: &[Vec<usize>],
    i: usize,
    author: &DeviceId,
) -> Option<(Vec<usize>, Signature)> {
    if let Some(sig) = batch[i].signature() {
        return Some((Vec::new(), *sig));
    }
    // Breadth first through what builds on it, remembering the way back.
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([i]);
    while let Some(at) = queue.pop_front() {
        for &c in &children[at] {
            if c == i || came_from.contains_key(&c) {
                continue;
            }
            came_from.insert(c, at);
            let change = &batch[c];
            if let Some(sig) = change.signature()
                && author_of_actor(change.actor_id()).as_ref() == Some(author)
            {
                let mut path = vec![c];
                let mut back = c;
                while came_from[&back] != i {
                    back = came_from[&back];
                    path.push(back);
                }
                path.reverse();
                return Some((path, *sig));
            }
            queue.push_back(c);
        }
    }
    None
}
