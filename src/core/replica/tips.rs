//! Each actor's newest change (its number and last operation), which the equivocation screen
//! and the operation numbering of a received batch ask for: found near the heads when it can
//! be, and kept up to date by every way in.

use std::collections::HashMap;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};

use super::Replica;
use crate::core::trust::equivocation::Held;
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
        };
        tip
    }
}

/// The newest change of each actor the replica looked up: exact for every actor in `known`,
/// and for every actor at all once `complete` (an actor missing then has no change).
#[derive(Debug, Clone, Default)]
pub(super) struct Tips {
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
