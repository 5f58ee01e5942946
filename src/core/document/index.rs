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

use crate::core::document::model::keys;
use crate::core::ids::{ItemId, ItemKind, Timestamp};
use crate::core::replica::Replica;
use crate::core::trust::guard::guarded;

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
    /// Sorted, without repeats.
    pub touched: Vec<Touch>,
    /// The counters of the change's first and last operation.
    pub start_op: u64,
    pub max_op: u64,
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
///
/// Building it decodes every change once, which is most of its cost on a long history; an
/// index saved with [`ChangeIndex::to_bytes`] and loaded with [`ChangeIndex::from_bytes`] is
/// brought up to date with [`ChangeIndex::update`], which decodes only the changes it has not
/// seen. (The store keeps it as a local cache; it is derived data, rebuilt when missing.)
#[derive(Debug, Default)]
pub struct ChangeIndex {
    entries: Vec<IndexEntry>,
    by_hash: HashMap<ChangeHash, usize>,
    /// Per actor: (first op counter, last op counter, entry), sorted by first counter.
    ops: HashMap<ActorId, Vec<(u64, u64, usize)>>,
    /// Which item (or part of the alliance) owns each object made so far.
    owners: HashMap<legacy::OpId, Owner>,
    /// The heads of the history indexed so far.
    heads: Vec<ChangeHash>,
}

fn kind_of_collection(key: &str) -> Option<ItemKind> {
    ItemKind::ALL.into_iter().find(|k| k.collection() == key)
}

/// The member a device key belongs to, as the document reads right after change `hash` (the
/// same winner every device sees, also when two members claimed the device concurrently).
fn device_member_at(doc: &automerge::Automerge, key: &str, hash: &ChangeHash) -> Option<ItemId> {
    use automerge::{ReadDoc, Value};
    let at = std::slice::from_ref(hash);
    let Ok(Some((Value::Object(ObjType::Map), devices))) =
        doc.get_at(automerge::ROOT, keys::DEVICES, at)
    else {
        return None;
    };
    let Ok(Some((Value::Object(ObjType::Map), device))) = doc.get_at(&devices, key, at) else {
        return None;
    };
    match doc.get_at(&device, "member", at) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(ItemId::from_doc_key),
        _ => None,
    }
}

impl ChangeIndex {
    /// Indexes every change of `replica`.
    pub fn build(replica: &Replica) -> ChangeIndex {
        let mut index = ChangeIndex::default();
        index.update(replica);
        index
    }

    /// Indexes the changes of `replica` this index has not seen yet. Returns how many were
    /// added. When the index holds changes the replica does not (it belongs to another
    /// history), it starts over.
    pub fn update(&mut self, replica: &Replica) -> usize {
        let doc = replica.doc();
        if self
            .heads
            .iter()
            .any(|h| doc.get_change_meta_by_hash(h).is_none())
        {
            *self = ChangeIndex::default();
        }
        let heads = doc.get_heads();
        let mut added = 0;
        if heads != self.heads {
            for change in doc.get_changes(&self.heads) {
                if !self.by_hash.contains_key(&change.hash()) {
                    self.add(doc, &change);
                    added += 1;
                }
            }
            self.heads = heads;
        }
        // A saved index that does not account for every change (damaged in a way its checksum
        // did not catch, or written by a buggy version) is not trusted: start over.
        if self.entries.len() != doc.get_changes_meta(&[]).len() {
            let mut fresh = ChangeIndex::default();
            fresh.update(replica);
            *self = fresh;
            return self.entries.len();
        }
        if added > 0 {
            self.canonical_order();
        }
        added
    }

    /// Orders the entries the same way on every device that holds the same changes: causal
    /// order, concurrent changes by (time, hash). (The order Automerge hands changes out in is
    /// the order this device received them.)
    fn canonical_order(&mut self) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = self.entries.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting = vec![0usize; n];
        for (i, e) in self.entries.iter().enumerate() {
            for d in &e.deps {
                if let Some(&j) = self.by_hash.get(d) {
                    children[j].push(i);
                    waiting[i] += 1;
                }
            }
        }
        let key = |i: usize| Reverse((self.entries[i].time, self.entries[i].hash, i));
        let mut ready: BinaryHeap<Reverse<(Timestamp, ChangeHash, usize)>> =
            (0..n).filter(|i| waiting[*i] == 0).map(key).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse((_, _, i))) = ready.pop() {
            order.push(i);
            for &c in &children[i] {
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    ready.push(key(c));
                }
            }
        }
        if order.len() != n || order.iter().enumerate().all(|(a, b)| a == *b) {
            return;
        }
        let mut old: Vec<Option<IndexEntry>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        self.entries = order
            .into_iter()
            .map(|i| old[i].take().expect("each entry once"))
            .collect();
        self.reindex();
    }

    /// Rebuilds the lookups from the entries.
    fn reindex(&mut self) {
        self.by_hash.clear();
        self.ops.clear();
        for (position, e) in self.entries.iter().enumerate() {
            self.by_hash.insert(e.hash, position);
            self.ops
                .entry(e.actor.clone())
                .or_default()
                .push((e.start_op, e.max_op, position));
        }
        for spans in self.ops.values_mut() {
            spans.sort_unstable();
        }
    }

    fn add(&mut self, doc: &automerge::Automerge, change: &automerge::Change) {
        let position = self.entries.len();
        let mut touched = Vec::new();
        let hash = change.hash();
        // Decoding validates nothing new (the change is already in the document), but a
        // malformed operation must not take the process down.
        let expanded = guarded(|| change.decode());
        let start = change.start_op().get();
        if let Some(expanded) = expanded {
            for (i, op) in expanded.operations.iter().enumerate() {
                let Some(counter) = start.checked_add(i as u64) else {
                    break;
                };
                let op_id = legacy::OpId(counter, change.actor_id().clone());
                let owner = self.owner_of(doc, &hash, op, &mut touched);
                if matches!(
                    op.action,
                    legacy::OpType::Make(
                        ObjType::Map | ObjType::List | ObjType::Text | ObjType::Table
                    )
                ) {
                    self.owners.insert(op_id, owner);
                }
            }
        }
        touched.sort();
        touched.dedup();
        self.by_hash.insert(hash, position);
        self.ops
            .entry(change.actor_id().clone())
            .or_default()
            .push((start, change.max_op(), position));
        self.entries.push(IndexEntry {
            hash,
            deps: change.deps().to_vec(),
            actor: change.actor_id().clone(),
            time: Timestamp(change.timestamp()),
            touched,
            start_op: start,
            max_op: change.max_op(),
        });
    }

    /// The owner of the object an operation writes (or makes), recording what it touched.
    fn owner_of(
        &mut self,
        doc: &automerge::Automerge,
        hash: &ChangeHash,
        op: &legacy::Op,
        touched: &mut Vec<Touch>,
    ) -> Owner {
        let key = match &op.key {
            legacy::Key::Map(k) => Some(k.as_str()),
            legacy::Key::Seq(_) => None,
        };
        let parent = match &op.obj {
            legacy::ObjectId::Root => None,
            legacy::ObjectId::Id(id) => Some(self.owners.get(id).cloned().unwrap_or(Owner::Other)),
        };
        match (parent, key) {
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
                if let Some(m) = device_member_at(doc, k, hash) {
                    touched.push(Touch::Item(m));
                }
                Owner::Device(k.to_string())
            }
            (Some(Owner::Devices), None) => Owner::Other,
            (Some(Owner::Device(d)), _) => {
                if let Some(m) = device_member_at(doc, &d, hash) {
                    touched.push(Touch::Item(m));
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
        }
    }

    /// The heads of the history indexed.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
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

    /// Where a change stands in [`ChangeIndex::entries`].
    pub fn position(&self, hash: &ChangeHash) -> Option<usize> {
        self.by_hash.get(hash).copied()
    }

    /// The stretches of the history where changes can be concurrent, as ranges of
    /// [`ChangeIndex::entries`] of two changes or more. Between two stretches stands a change
    /// every earlier change is an ancestor of and every later change a descendant of (a common
    /// ancestor of all that follows), so two changes in different stretches, or either of them
    /// outside every stretch, are never concurrent. One pass over the entries each way.
    pub fn concurrent_stretches(&self) -> Vec<std::ops::Range<usize>> {
        let n = self.entries.len();
        let deps: Vec<Vec<usize>> = self
            .entries
            .iter()
            .map(|e| {
                let mut d: Vec<usize> = e
                    .deps
                    .iter()
                    .filter_map(|h| self.by_hash.get(h).copied())
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        // Forward: after entry p, the entries so far without a child so far; 1 means every
        // earlier entry is an ancestor of p.
        let mut has_child = vec![false; n];
        let mut frontier = 0usize;
        let mut all_before = vec![false; n];
        for p in 0..n {
            frontier += 1;
            // (`saturating_sub`: an order that is not causal, from a damaged cache, must not
            // panic; it only finds fewer cuts.)
            for &d in &deps[p] {
                if !has_child[d] {
                    has_child[d] = true;
                    frontier = frontier.saturating_sub(1);
                }
            }
            all_before[p] = frontier == 1;
        }
        // Backward: among entries p.., those none of whose deps are in p..; 1 means every later
        // entry descends from p.
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (p, ds) in deps.iter().enumerate() {
            for &d in ds {
                children[d].push(p);
            }
        }
        let mut minimal = vec![true; n];
        let mut count = 0usize;
        let mut cut = vec![false; n];
        for p in (0..n).rev() {
            count += 1;
            for &c in &children[p] {
                if minimal[c] {
                    minimal[c] = false;
                    count = count.saturating_sub(1);
                }
            }
            cut[p] = all_before[p] && count == 1;
        }
        let mut out = Vec::new();
        let mut start = None;
        for (p, is_cut) in cut.iter().copied().chain([true]).enumerate() {
            match (is_cut, start) {
                (false, None) => start = Some(p),
                (true, Some(s)) => {
                    if p - s >= 2 {
                        out.push(s..p);
                    }
                    start = None;
                }
                _ => {}
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The saved form: plain data, versioned and checksummed, so a damaged or stale cache is
// simply rebuilt.

/// Leads the saved index; the last byte is the format version.
/// Bump the version whenever what the index records changes (e.g. the rules of `owner_of`), so
/// caches written by older versions are rebuilt rather than trusted.
const INDEX_MAGIC: &[u8; 8] = b"ALLIDX02";

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    actors: Vec<Vec<u8>>,
    entries: Vec<SavedEntry>,
    owners: Vec<(u64, u32, SavedOwner)>,
    heads: Vec<[u8; 32]>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedEntry {
    hash: [u8; 32],
    deps: Vec<[u8; 32]>,
    actor: u32,
    time: i64,
    touched: Vec<SavedTouch>,
    start_op: u64,
    max_op: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum SavedTouch {
    Item(String),
    Vision,
    Alliance,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum SavedOwner {
    Collection(u8),
    Devices,
    Device(String),
    Item(String),
    Vision,
    Other,
}

fn hash_bytes(h: &ChangeHash) -> [u8; 32] {
    h.0
}

impl ChangeIndex {
    /// The index as bytes, for a local cache.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut actors: Vec<Vec<u8>> = Vec::new();
        let mut actor_ix: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut intern = |a: &ActorId, actors: &mut Vec<Vec<u8>>| -> u32 {
            *actor_ix.entry(a.to_bytes().to_vec()).or_insert_with(|| {
                actors.push(a.to_bytes().to_vec());
                (actors.len() - 1) as u32
            })
        };
        let entries = self
            .entries
            .iter()
            .map(|e| SavedEntry {
                hash: hash_bytes(&e.hash),
                deps: e.deps.iter().map(hash_bytes).collect(),
                actor: intern(&e.actor, &mut actors),
                time: e.time.0,
                touched: e
                    .touched
                    .iter()
                    .map(|t| match t {
                        Touch::Item(i) => SavedTouch::Item(i.as_str().to_string()),
                        Touch::Vision => SavedTouch::Vision,
                        Touch::Alliance => SavedTouch::Alliance,
                    })
                    .collect(),
                start_op: e.start_op,
                max_op: e.max_op,
            })
            .collect();
        let owners = self
            .owners
            .iter()
            .map(|(legacy::OpId(counter, actor), owner)| {
                let owner = match owner {
                    Owner::Collection(k) => SavedOwner::Collection(
                        ItemKind::ALL.iter().position(|x| x == k).unwrap_or(0) as u8,
                    ),
                    Owner::Devices => SavedOwner::Devices,
                    Owner::Device(d) => SavedOwner::Device(d.clone()),
                    Owner::Item(i) => SavedOwner::Item(i.as_str().to_string()),
                    Owner::Vision => SavedOwner::Vision,
                    Owner::Other => SavedOwner::Other,
                };
                (*counter, intern(actor, &mut actors), owner)
            })
            .collect();
        let saved = Saved {
            actors,
            entries,
            owners,
            heads: self.heads.iter().map(hash_bytes).collect(),
        };
        let body = postcard::to_stdvec(&saved).expect("index serialises");
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// An index saved by [`ChangeIndex::to_bytes`]; `None` when the bytes are not one (another
    /// version, damaged, truncated). Bring it up to date with [`ChangeIndex::update`].
    pub fn from_bytes(bytes: &[u8]) -> Option<ChangeIndex> {
        let rest = bytes.strip_prefix(INDEX_MAGIC.as_slice())?;
        let (crc, body) = rest.split_at_checked(4)?;
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let saved: Saved = postcard::from_bytes(body).ok()?;
        let actors: Vec<ActorId> = saved.actors.into_iter().map(ActorId::from).collect();
        let actor = |i: u32| actors.get(i as usize).cloned();
        let mut index = ChangeIndex::default();
        for e in saved.entries {
            let position = index.entries.len();
            let entry = IndexEntry {
                hash: ChangeHash(e.hash),
                deps: e.deps.into_iter().map(ChangeHash).collect(),
                actor: actor(e.actor)?,
                time: Timestamp(e.time),
                touched: e
                    .touched
                    .into_iter()
                    .map(|t| match t {
                        SavedTouch::Item(i) => Touch::Item(ItemId::from_doc_key(&i)),
                        SavedTouch::Vision => Touch::Vision,
                        SavedTouch::Alliance => Touch::Alliance,
                    })
                    .collect(),
                start_op: e.start_op,
                max_op: e.max_op,
            };
            index.by_hash.insert(entry.hash, position);
            index.ops.entry(entry.actor.clone()).or_default().push((
                entry.start_op,
                entry.max_op,
                position,
            ));
            index.entries.push(entry);
        }
        for spans in index.ops.values_mut() {
            spans.sort_unstable();
        }
        for (counter, a, owner) in saved.owners {
            let owner = match owner {
                SavedOwner::Collection(k) => Owner::Collection(*ItemKind::ALL.get(k as usize)?),
                SavedOwner::Devices => Owner::Devices,
                SavedOwner::Device(d) => Owner::Device(d),
                SavedOwner::Item(i) => Owner::Item(ItemId::from_doc_key(&i)),
                SavedOwner::Vision => Owner::Vision,
                SavedOwner::Other => Owner::Other,
            };
            index.owners.insert(legacy::OpId(counter, actor(a)?), owner);
        }
        index.heads = saved.heads.into_iter().map(ChangeHash).collect();
        Some(index)
    }
}
