//! Removal, and the changes concurrent with it (docs/protocol.md, "Removal").
//!
//! A change whose author's removal is in its own past is refused on receive, like any change by
//! a non-member (`receive`). A change made by a device *concurrently* with its removal (from
//! dependencies before it: a phone that was offline, or a removed device that picks old
//! dependencies on purpose) may reach some replicas before the removal and others after it.
//! Refusing it only where the removal is already known would leave replicas different forever,
//! so the rule is a function of the set of changes a replica holds, applied the same way
//! everywhere:
//!
//! - a change is *suspect* when its author device is removed (itself, or its person), the
//!   change is in the past of none of that device's removals, and it is not itself a removal
//!   (strong removal: a removal is never withdrawn, so two admins who remove each other at
//!   once are both removed, and nothing undoes a removal);
//! - a change is *kept* when it is not suspect, or a kept change has it in its past (someone
//!   built on it before they knew of the removal: nobody loses what they built);
//! - every other change is *withdrawn*: left out of the replica (and of the store).
//!
//! The kept changes include their own past, so the replica without the withdrawn ones is the
//! document at the kept changes' heads. Every replica that holds the same changes keeps the
//! same ones; a replica that withdrew a change takes it back when a change that builds on it
//! arrives (the sender holds it and sends it along).

use std::collections::{HashMap, HashSet};

use automerge::{ChangeHash, ObjType, ROOT, ReadDoc};

use super::Replica;
use crate::constants::DEVICE_KEY_LEN;
use crate::core::document::model::keys;
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;

impl Replica {
    /// Whether a received batch calls for the withdrawal pass: it wrote a removal, or one of
    /// its authors is removed now.
    pub(super) fn touches_removals(&self, wrote_removal: bool, authors: &[DeviceId]) -> bool {
        wrote_removal || authors.iter().any(|a| self.member_of(a).is_none())
    }

    /// The changes that removed `device` (its own removal, or its person's), as this replica
    /// knows them.
    pub fn removals_of(&self, device: &DeviceId) -> Vec<ChangeHash> {
        self.removals()
            .remove(device.as_bytes())
            .unwrap_or_default()
    }

    /// Every removal in the document: removed device key -> the changes that removed it (the
    /// device's own removal, or its person's).
    fn removals(&self) -> HashMap<[u8; DEVICE_KEY_LEN], Vec<ChangeHash>> {
        let doc = &self.doc;
        let mut out: HashMap<[u8; DEVICE_KEY_LEN], Vec<ChangeHash>> = HashMap::new();
        let map = |key: &str| crate::core::document::model::map_at(doc, &ROOT, key);
        let (Some(devices), Some(members)) = (map(keys::DEVICES), map(keys::MEMBERS)) else {
            return out;
        };
        // The changes that wrote an object's `removed_at` (Automerge knows each value's change).
        let writers = |obj: &automerge::ObjId| -> Vec<ChangeHash> {
            doc.get_all(obj, keys::REMOVED_AT)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(_, id)| doc.hash_for_opid(&id))
                .collect()
        };
        let mut member_removals: HashMap<String, Vec<ChangeHash>> = HashMap::new();
        for item in doc.map_range(&members, ..) {
            if let automerge::ValueRef::Object(ObjType::Map) = item.value {
                let w = writers(&item.id());
                if !w.is_empty() {
                    member_removals.insert(item.key.to_string(), w);
                }
            }
        }
        for item in doc.map_range(&devices, ..) {
            let automerge::ValueRef::Object(ObjType::Map) = item.value else {
                continue;
            };
            let Ok(key) = item.key.parse::<DeviceId>() else {
                continue;
            };
            let obj = item.id();
            let mut w = writers(&obj);
            let member = crate::core::document::model::string_at(doc, &obj, "member");
            if let Some(m) = member_removals.get(&member) {
                w.extend(m.iter().copied());
            }
            if !w.is_empty() {
                out.insert(*key.as_bytes(), w);
            }
        }
        out
    }

    /// Withdraws the changes concurrent with their author's removal that no kept change built
    /// on (see the module docs). Returns their hashes; the replica then holds the rest. (When
    /// it held some of them before, its store must save it whole: see `rewritten`.)
    pub(super) fn withdraw_concurrent_with_removals(&mut self) -> HashSet<ChangeHash> {
        let removals = self.removals();
        if removals.is_empty() {
            return HashSet::new();
        }
        let Some(metas) = guarded(|| self.doc.get_changes_meta(&[])) else {
            return HashSet::new();
        };
        // In the past of a removal of the change's own author?
        let index: HashMap<ChangeHash, usize> =
            metas.iter().enumerate().map(|(i, m)| (m.hash, i)).collect();
        let ancestors_of = |start: &[ChangeHash]| -> HashSet<usize> {
            let mut seen = HashSet::new();
            let mut stack: Vec<usize> =
                start.iter().filter_map(|h| index.get(h).copied()).collect();
            while let Some(i) = stack.pop() {
                if seen.insert(i) {
                    stack.extend(metas[i].deps.iter().filter_map(|d| index.get(d).copied()));
                }
            }
            seen
        };
        let mut suspect = vec![false; metas.len()];
        for (key, removed_by) in &removals {
            let past = ancestors_of(removed_by);
            for (i, m) in metas.iter().enumerate() {
                let bytes = m.actor.to_bytes();
                if bytes.len() >= DEVICE_KEY_LEN
                    && bytes[..DEVICE_KEY_LEN] == key[..]
                    && !past.contains(&i)
                {
                    suspect[i] = true;
                }
            }
        }
        // A removal is never withdrawn (strong removal): two admins who remove each other
        // at once are both removed, and no change can undo a removal.
        for (i, m) in metas.iter().enumerate() {
            if suspect[i]
                && self
                    .doc
                    .get_change_by_hash(&m.hash)
                    .is_some_and(|c| crate::core::trust::rules::is_removal(&c))
            {
                suspect[i] = false;
            }
        }
        if !suspect.iter().any(|s| *s) {
            return HashSet::new();
        }
        // Kept: not suspect, or in the past of a kept change. Children first: Automerge lists
        // changes in causal order, so walk it backwards.
        let mut kept: Vec<bool> = suspect.iter().map(|s| !s).collect();
        for i in (0..metas.len()).rev() {
            if kept[i] {
                for d in &metas[i].deps {
                    if let Some(&j) = index.get(d) {
                        kept[j] = true;
                    }
                }
            }
        }
        let withdrawn: HashSet<ChangeHash> = metas
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !**k)
            .map(|(m, _)| m.hash)
            .collect();
        if withdrawn.is_empty() {
            return withdrawn;
        }
        let mut has_kept_child = vec![false; metas.len()];
        for (i, m) in metas.iter().enumerate() {
            if kept[i] {
                for d in &m.deps {
                    if let Some(&j) = index.get(d) {
                        has_kept_child[j] = true;
                    }
                }
            }
        }
        let heads: Vec<ChangeHash> = metas
            .iter()
            .enumerate()
            .filter(|(i, _)| kept[*i] && !has_kept_child[*i])
            .map(|(_, m)| m.hash)
            .collect();
        drop(metas);
        match guarded(|| self.doc.fork_at(&heads)) {
            Some(Ok(doc)) => {
                let before = self.clone();
                self.doc = doc;
                self.signatures.retain(|h, _| !withdrawn.contains(h));
                self.proofs.retain(|h, _| !withdrawn.contains(h));
                self.seq_counts = Default::default();
                self.forget_vouchers();
                self.prove_what_lost_its_voucher(&before);
                withdrawn
            }
            // Cannot happen for heads taken from the document itself; keep everything rather
            // than lose an honest change.
            _ => HashSet::new(),
        }
    }

    /// After a withdrawal: a kept change whose only vouching change was withdrawn (its
    /// author's later change, made concurrently with the author's removal) keeps a
    /// [`Proof`](crate::core::trust::signed::Proof) built from `before`, the replica as it was: the
    /// changes up to the withdrawn one and its signature. Newest first, so one proof covers its
    /// author's older changes too. The store then saves the replica whole.
    fn prove_what_lost_its_voucher(&mut self, before: &Replica) {
        let mut unprovable: HashSet<ChangeHash> = HashSet::new();
        loop {
            let lost = self
                .doc
                .get_changes_meta(&[])
                .iter()
                .rev()
                .map(|m| m.hash)
                .find(|h| {
                    !unprovable.contains(h)
                        && self.voucher_of(h).is_none()
                        && before.voucher_of(h).is_some()
                });
            let Some(lost) = lost else {
                return;
            };
            match before.proof_for(&lost) {
                Some(proof) => {
                    self.keep_voucher(lost, crate::core::trust::signed::Voucher::Proof(proof));
                    self.rewritten = true;
                }
                None => {
                    unprovable.insert(lost);
                }
            }
        }
    }

    /// Whether changes were withdrawn since the last call: the store must then save the
    /// replica whole instead of appending (see `store::OpenAlliance::persist`).
    pub fn take_rewritten(&mut self) -> bool {
        std::mem::take(&mut self.rewritten)
    }

    /// Marks the replica as to be saved whole again (its save failed).
    pub fn mark_rewritten(&mut self) {
        self.rewritten = true;
    }
}
