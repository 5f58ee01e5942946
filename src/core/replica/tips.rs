//! Each actor's newest change (its number and last operation), which the equivocation screen
//! and the operation numbering of a received batch ask for: found near the heads when it can
//! be, and kept up to date by every way in.

use std::collections::HashMap;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};

use super::Replica;
use crate::core::trust::equivocation::Held;
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;
use crate::core::trust::signed::{SignedChange, Verified, Voucher};

impl Replica {
    /// Keeps the per-actor change counts up to date with changes that entered the document.
    pub(super) fn note_seqs(&mut self, changes: &[SignedChange<Verified>]) {
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
    pub(super) fn tip(&mut self, actor: &ActorId) -> ActorTip {
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
            worth_keeping: true,
        };
        tip
    }

    /// Every actor's newest change, found with a pass over the whole history if need be, as
    /// [`Replica::resume_tips`] takes them: what a device keeps beside its store.
    pub fn tips_cache(&mut self) -> Vec<u8> {
        if !self.seq_counts.complete {
            self.seq_counts = Tips::default();
            // An actor no change names: the whole pass runs.
            self.tip(&ActorId::from(&[0u8; 0][..]));
        }
        self.seq_counts.worth_keeping = true;
        self.tips_to_keep().expect("complete")
    }

    /// Every actor's newest change as this replica knows them, to keep beside the store (see
    /// [`Replica::resume_tips`]), when they are complete and cost a pass over the history to
    /// find (`None` otherwise: nothing worth writing).
    pub fn tips_to_keep(&mut self) -> Option<Vec<u8>> {
        if !(self.seq_counts.complete && self.seq_counts.worth_keeping) {
            return None;
        }
        self.seq_counts.worth_keeping = false;
        let heads = self.doc.get_heads();
        let mut out = Vec::new();
        out.extend_from_slice(TIPS_MAGIC);
        out.extend_from_slice(&(heads.len() as u32).to_le_bytes());
        for h in &heads {
            out.extend_from_slice(&h.0);
        }
        let mut actors: Vec<_> = self.seq_counts.known.iter().collect();
        if actors
            .iter()
            .any(|(a, _)| a.to_bytes().len() > usize::from(u8::MAX))
        {
            // Not an actor alliance writes (its own are ACTOR_ID_LEN bytes): keep nothing.
            return None;
        }
        actors.sort_by(|a, b| a.0.cmp(b.0));
        out.extend_from_slice(&(actors.len() as u32).to_le_bytes());
        for (actor, tip) in actors {
            let bytes = actor.to_bytes();
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
            out.extend_from_slice(&tip.seq.to_le_bytes());
            out.extend_from_slice(&tip.max_op.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Some(out)
    }

    /// Takes every actor's newest change from what [`Replica::tips_to_keep`] wrote earlier
    /// (a cache beside the store: this device's own reading of its own history), brought up
    /// to date with the changes that came after the heads it was written at, so that the
    /// first change received from an actor silent for long needs no pass over the whole
    /// history. Bytes that do not decode, or heads this replica does not hold (the history was
    /// rewritten since), are ignored: the tips are then found as before. Returns whether they
    /// were taken.
    pub fn resume_tips(&mut self, bytes: &[u8]) -> bool {
        let Some((heads, known)) = decode_tips(bytes) else {
            return false;
        };
        if !heads
            .iter()
            .all(|h| self.doc.get_change_meta_by_hash(h).is_some())
        {
            return false;
        }
        let Some(after) = guarded(|| self.doc.get_changes_meta(&heads)) else {
            return false;
        };
        let mut tips = Tips {
            known,
            complete: true,
            // Worth writing again when many changes came after it.
            worth_keeping: after.len() > TIPS_REWRITE_AFTER,
        };
        for m in after {
            tips.known
                .entry(m.actor.into_owned())
                .or_default()
                .note(m.seq, m.max_op);
        }
        self.seq_counts = tips;
        true
    }
}

/// What a tips cache starts with (version 1).
const TIPS_MAGIC: &[u8; 8] = b"ALLTIPS1";

/// How many changes may come after a tips cache's heads before it is written again.
const TIPS_REWRITE_AFTER: usize = 1024;

/// Decodes what [`Replica::tips_to_keep`] wrote: the heads, and each actor's tip.
fn decode_tips(bytes: &[u8]) -> Option<(Vec<ChangeHash>, HashMap<ActorId, ActorTip>)> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let mut rest = body.strip_prefix(TIPS_MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = rest.split_at_checked(n)?;
        rest = b;
        Some(a)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut heads = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        heads.push(ChangeHash(take(32)?.try_into().ok()?));
    }
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut known = HashMap::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let len = take(1)?[0] as usize;
        let actor = ActorId::from(take(len)?);
        let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let max_op = u64::from_le_bytes(take(8)?.try_into().ok()?);
        known.insert(actor, ActorTip { seq, max_op });
    }
    take(1).is_none().then_some((heads, known))
}

/// The newest change of each actor the replica looked up: exact for every actor in `known`,
/// and for every actor at all once `complete` (an actor missing then has no change).
#[derive(Debug, Clone, Default)]
pub(super) struct Tips {
    known: HashMap<ActorId, ActorTip>,
    complete: bool,
    /// Found by a pass over the whole history (or far from a kept copy's heads) and not kept
    /// yet: worth writing beside the store ([`Replica::tips_to_keep`]).
    worth_keeping: bool,
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
pub(super) struct ActorTip {
    pub(super) seq: u64,
    pub(super) max_op: u64,
}

impl ActorTip {
    pub(super) fn note(&mut self, seq: u64, max_op: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::ACTOR_TAG_LEN;
    use crate::core::{DeviceKey, SeededEntropy, Timestamp, Writer};

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

    /// A writer of `key`'s device as actor `tag`, at `now`.
    fn writer(key: &DeviceKey, tag: u8, now: i64) -> Writer<'_> {
        Writer {
            key,
            actor_tag: [tag; ACTOR_TAG_LEN],
            now: Timestamp(now),
        }
    }

    #[test]
    fn tips_kept_beside_the_store_are_the_tips_of_the_whole_history_after_more_changes() {
        let key = DeviceKey::from_seed([7; 32]);
        let writer = |tag: u8, now: i64| writer(&key, tag, now);
        let mut rng = SeededEntropy::new(3);
        let (mut a, _, _) =
            Replica::create(&writer(1, 0), &mut rng, "Us", "Ada", "parent").expect("created");
        for i in 0..20 {
            a.add_need(&writer(2 + (i % 3) as u8, i), &mut rng, &format!("n {i}"))
                .expect("edit");
        }
        let kept = a.clone().tips_cache();
        // More changes after the cache was written, one by an actor new to it.
        for i in 0..5 {
            a.splice_vision(&writer(if i % 2 == 0 { 2 } else { 9 }, 100 + i), 0, 0, "w ")
                .expect("edit");
        }
        let full = full_tips(&a.doc);
        let mut loaded = a.clone();
        loaded.seq_counts = Tips::default();
        assert!(loaded.resume_tips(&kept), "the cache is taken");
        assert!(loaded.seq_counts.complete);
        for (actor, (seq, max_op)) in &full {
            let t = loaded.tip(actor);
            assert_eq!((t.seq, t.max_op), (*seq, *max_op));
        }
        assert_eq!(loaded.tip(&writer(42, 0).actor()).seq, 0, "no such actor");
        // A damaged cache, or one written at heads this replica does not hold, is not taken.
        let mut bad = kept.clone();
        bad[12] ^= 1;
        let mut other = a.clone();
        other.seq_counts = Tips::default();
        assert!(!other.resume_tips(&bad));
        assert!(!other.resume_tips(&kept[..kept.len() - 1]));
        let (mut elsewhere, _, _) =
            Replica::create(&writer(5, 0), &mut rng, "Them", "Ben", "parent").expect("created");
        let foreign = elsewhere.tips_cache();
        assert!(!other.resume_tips(&foreign));
        assert!(!other.seq_counts.complete, "found as before");
    }

    #[test]
    fn a_tip_found_near_the_heads_is_the_tip_of_the_whole_history() {
        let key = DeviceKey::from_seed([7; 32]);
        let writer = |tag: u8, now: i64| writer(&key, tag, now);
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
