//! An index of the history: for every change, which parts of the alliance it touched.
//!
//! `history`, `diff`, `status`, `blame` and `log --item` need to know which changes touched
//! which item. Reading the item at every point of the history costs one historical read per
//! change (a clock over the whole history each time); this index instead walks each change's
//! operations once, in causal order, and follows which object each operation writes to back to
//! the item that owns it. Built from the document alone (no I/O), in one pass.
//!
//! It also maps an operation ID (`counter@actor`) to the change that made it, which is how
//! `blame` attributes each character of the vision.

use std::collections::HashMap;

use automerge::{ActorId, ChangeHash, ObjType, legacy};

use crate::core::ids::{ItemId, ItemKind, Timestamp};
use crate::core::model::keys;
use crate::core::replica::{Replica, guarded};

/// A part of the alliance a change touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Touch {
    /// A member, need, plan session, expectation or check-in.
    Item(ItemId),
    /// The shared vision text.
    Vision,
    /// Anything else at the top of the document (title, schema, the devices map itself).
    Alliance,
}

/// One change of the history with what it touched.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub hash: ChangeHash,
    pub deps: Vec<ChangeHash>,
    pub actor: ActorId,
    pub time: Timestamp,
    pub message: String,
    /// Sorted, without repeats.
    pub touched: Vec<Touch>,
}

/// Who owns an object of the document.
#[derive(Debug, Clone)]
enum Owner {
    Collection(ItemKind),
    Devices,
    Device(String),
    Item(ItemId),
    Vision,
    Other,
}

/// The index of one replica's history, in causal order.
#[derive(Debug, Default)]
pub struct ChangeIndex {
    entries: Vec<IndexEntry>,
    by_hash: HashMap<ChangeHash, usize>,
    /// Per actor: (first op counter, last op counter, entry), sorted by first counter.
    ops: HashMap<ActorId, Vec<(u64, u64, usize)>>,
}

fn kind_of_collection(key: &str) -> Option<ItemKind> {
    ItemKind::ALL.into_iter().find(|k| k.collection() == key)
}

impl ChangeIndex {
    /// Indexes every change of `replica`.
    pub fn build(replica: &Replica) -> ChangeIndex {
        let doc = replica.doc();
        let mut index = ChangeIndex::default();
        let mut owners: HashMap<legacy::OpId, Owner> = HashMap::new();
        // Which member each device key belongs to (from the devices map's `member` fields).
        let mut device_member: HashMap<String, ItemId> = HashMap::new();
        for change in doc.get_changes(&[]) {
            let position = index.entries.len();
            let mut touched = Vec::new();
            // Decoding validates nothing new (the change is already in the document), but a
            // malformed operation must not take the process down.
            let expanded = guarded(|| change.decode());
            let start = change.start_op().get();
            if let Some(expanded) = expanded {
                for (i, op) in expanded.operations.iter().enumerate() {
                    let op_id = legacy::OpId(start + i as u64, change.actor_id().clone());
                    let key = match &op.key {
                        legacy::Key::Map(k) => Some(k.as_str()),
                        legacy::Key::Seq(_) => None,
                    };
                    let parent = match &op.obj {
                        legacy::ObjectId::Root => None,
                        legacy::ObjectId::Id(id) => {
                            Some(owners.get(id).cloned().unwrap_or(Owner::Other))
                        }
                    };
                    let owner = match (parent, key) {
                        (None, Some(keys::VISION)) => {
                            touched.push(Touch::Vision);
                            Owner::Vision
                        }
                        (None, Some(keys::DEVICES)) => {
                            touched.push(Touch::Alliance);
                            Owner::Devices
                        }
                        (None, Some(k)) => {
                            touched.push(Touch::Alliance);
                            kind_of_collection(k).map_or(Owner::Other, Owner::Collection)
                        }
                        (None, None) | (Some(Owner::Other), _) => {
                            touched.push(Touch::Alliance);
                            Owner::Other
                        }
                        (Some(Owner::Collection(kind)), Some(k)) => {
                            let id = ItemId::from_doc_key(k);
                            if id.kind() == kind {
                                touched.push(Touch::Item(id.clone()));
                                Owner::Item(id)
                            } else {
                                touched.push(Touch::Alliance);
                                Owner::Other
                            }
                        }
                        (Some(Owner::Collection(_)), None) => Owner::Other,
                        (Some(Owner::Devices), Some(k)) => {
                            if let Some(m) = device_member.get(k) {
                                touched.push(Touch::Item(m.clone()));
                            }
                            Owner::Device(k.to_string())
                        }
                        (Some(Owner::Devices), None) => Owner::Other,
                        (Some(Owner::Device(d)), k) => {
                            if let (
                                Some("member"),
                                legacy::OpType::Put(automerge::ScalarValue::Str(m)),
                            ) = (k, &op.action)
                            {
                                device_member.insert(d.clone(), ItemId::from_doc_key(m));
                            }
                            if let Some(m) = device_member.get(&d) {
                                touched.push(Touch::Item(m.clone()));
                            }
                            Owner::Device(d)
                        }
                        (Some(Owner::Item(id)), _) => {
                            touched.push(Touch::Item(id.clone()));
                            Owner::Item(id)
                        }
                        (Some(Owner::Vision), _) => {
                            touched.push(Touch::Vision);
                            Owner::Vision
                        }
                    };
                    if matches!(
                        op.action,
                        legacy::OpType::Make(
                            ObjType::Map | ObjType::List | ObjType::Text | ObjType::Table
                        )
                    ) {
                        owners.insert(op_id, owner);
                    }
                }
            }
            touched.sort();
            touched.dedup();
            index.by_hash.insert(change.hash(), position);
            index
                .ops
                .entry(change.actor_id().clone())
                .or_default()
                .push((start, change.max_op(), position));
            index.entries.push(IndexEntry {
                hash: change.hash(),
                deps: change.deps().to_vec(),
                actor: change.actor_id().clone(),
                time: Timestamp(change.timestamp()),
                message: change.message().unwrap_or_default().to_string(),
                touched,
            });
        }
        for spans in index.ops.values_mut() {
            spans.sort_unstable();
        }
        index
    }

    /// Every change, in causal order (a change after all of its dependencies).
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn get(&self, hash: &ChangeHash) -> Option<&IndexEntry> {
        self.by_hash.get(hash).map(|i| &self.entries[*i])
    }

    /// The changes that touched `what`, in causal order.
    pub fn touching<'a>(&'a self, what: &'a Touch) -> impl Iterator<Item = &'a IndexEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.touched.binary_search(what).is_ok())
    }

    /// The change that made the operation `counter@actor`.
    pub fn change_of_op(&self, actor: &ActorId, counter: u64) -> Option<&IndexEntry> {
        let spans = self.ops.get(actor)?;
        let at = spans.partition_point(|(first, _, _)| *first <= counter);
        let (first, last, entry) = spans.get(at.checked_sub(1)?)?;
        (counter >= *first && counter <= *last).then(|| &self.entries[*entry])
    }

    /// The changes that are not ancestors of (nor in) `heads`: what happened after that point.
    /// Hashes of `heads` the history does not hold are ignored.
    pub fn after(&self, heads: &[ChangeHash]) -> Vec<&IndexEntry> {
        let mut before = vec![false; self.entries.len()];
        let mut stack: Vec<usize> = heads
            .iter()
            .filter_map(|h| self.by_hash.get(h).copied())
            .collect();
        while let Some(i) = stack.pop() {
            if before[i] {
                continue;
            }
            before[i] = true;
            stack.extend(
                self.entries[i]
                    .deps
                    .iter()
                    .filter_map(|d| self.by_hash.get(d).copied()),
            );
        }
        self.entries
            .iter()
            .zip(before)
            .filter(|(_, b)| !b)
            .map(|(e, _)| e)
            .collect()
    }

    /// The heads of the history as it stood before `day` (Unix seconds): the changes made
    /// before that time whose whole causal past was also made before it.
    pub fn heads_before(&self, time: Timestamp) -> Vec<ChangeHash> {
        let mut included = vec![false; self.entries.len()];
        let mut is_dep = vec![false; self.entries.len()];
        for (i, e) in self.entries.iter().enumerate() {
            included[i] = e.time.0 < time.0
                && e.deps
                    .iter()
                    .all(|d| self.by_hash.get(d).is_some_and(|j| included[*j]));
            if included[i] {
                for d in &e.deps {
                    if let Some(j) = self.by_hash.get(d) {
                        is_dep[*j] = true;
                    }
                }
            }
        }
        let mut heads: Vec<ChangeHash> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| included[*i] && !is_dep[*i])
            .map(|(_, e)| e.hash)
            .collect();
        heads.sort();
        heads
    }

    /// Whether the document holds a change.
    pub fn contains(&self, hash: &ChangeHash) -> bool {
        self.by_hash.contains_key(hash)
    }
}
