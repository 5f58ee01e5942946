//! Text conflicts: two people rewriting the same words of one text at the same time.
//!
//! Texts (the vision, needs, expectation texts, agendas, reflections) are Automerge `Text`:
//! concurrent edits merge character by character. That is right when two people edit different
//! parts of a text, and wrong when both rewrite the same words: "Screens off at dinner" and
//! "Screens off after homework" merge into a garble. This module finds those cases.
//!
//! **Definitions.** Two changes are *concurrent* when neither is in the other's past. What a
//! change did to one text is read from its own operations: the characters it deleted (each
//! character is an Automerge element with a stable ID) and, for each run of characters it
//! typed, the character the run follows (its anchor; the start of the text for none). Two
//! concurrent edits of one text *overlap* when
//! 1. they deleted a common character (replacing is deleting and typing), or
//! 2. one typed strictly inside a run of characters the other deleted: its anchor and the
//!    character after the anchor, in the text the other started from, were both deleted by the
//!    other.
//!
//! Typing at the edge of a run the other deleted, typing at the same place, and edits of
//! different characters do not overlap: they merge as before. Overlapping edits of one text
//! form a *conflict* (several overlapping pairs that share an edit are one conflict); its
//! *region* is every character the edits deleted or typed. Each side's *intended text* is the
//! text as of its change (its edit applied to the version it started from).
//!
//! **Settled.** A later change that has every edit of the conflict in its past and rewrites
//! its region settles it, for good: it deletes one of its characters; or types right after a
//! character the conflict's edits typed and left, other than the last one (inside what is
//! left; typing at its end only adds to it); or, when nothing they typed is left, types right
//! after the character before where it stood, or deletes the one before or after it. `resolve` writes such a change, as splices of the region only,
//! so an edit made meanwhile elsewhere in the text still merges (and one made meanwhile in the
//! region is a new conflict).
//!
//! **Cost.** Only changes in the same stretch of concurrent history
//! ([`ChangeIndex::concurrent_stretches`]) can be concurrent, and only changes of one item
//! ([`ChangeIndex`] knows which) that are concurrent with another of its changes are decoded,
//! each once: the history is not replayed. Every
//! device with the same changes finds the same conflicts (the index's order is canonical).
//! No I/O.
//!
//! Here: finding the conflicts and whether a later change settled them; `settle`: what people
//! read of one and the splices that settle it.

mod settle;

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use automerge::{ActorId, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value, legacy};

use crate::core::document::index::{ChangeIndex, Touch};
use crate::core::document::model::{self, keys};
use crate::core::ids::{ItemId, ItemKind};
use crate::core::replica::Replica;
use crate::core::trust::guard::guarded;

/// A character of a text: the ID of the operation that typed it.
pub(crate) type Elem = (u64, ActorId);

/// Which text: a field of an item (`text`, `agenda`, `reflections.m4k2x.text`) or the vision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TextRef {
    Item { id: ItemId, field: String },
    Vision,
}

impl TextRef {
    /// The field's name as `status` and `resolve` use it.
    pub fn field(&self) -> &str {
        match self {
            TextRef::Item { field, .. } => field,
            TextRef::Vision => keys::VISION,
        }
    }
}

/// What one change did to one text.
#[derive(Debug, Clone)]
pub(crate) struct TextEdit {
    pub hash: ChangeHash,
    pub deps: Vec<ChangeHash>,
    /// Position in the index (causal, canonical order).
    pub position: usize,
    pub deleted: HashSet<Elem>,
    pub inserted: HashSet<Elem>,
    /// The character each typed run follows (`None`: the start of the text).
    pub anchors: Vec<Option<Elem>>,
}

/// A conflict before it is shown: the text, every edit in it (index order), which of them
/// are the latest of each side, and its region.
#[derive(Debug, Clone)]
pub(crate) struct RawTextConflict {
    pub text: TextRef,
    pub obj: ObjId,
    pub edits: Vec<TextEdit>,
    /// Indices into `edits` of the edits no other edit of the conflict has in its past: one per
    /// side, each with its intended text.
    pub sides: Vec<usize>,
    pub region: HashSet<Elem>,
    /// Whether some of what its edits typed is still there (not deleted by one of them).
    pub typed_left: bool,
}

fn elem_of(id: &ObjId) -> Option<Elem> {
    match id {
        ObjId::Id(counter, actor, _) => Some((*counter, actor.clone())),
        ObjId::Root => None,
    }
}

fn legacy_elem(id: &legacy::OpId) -> Elem {
    (id.0, id.1.clone())
}

/// The text objects of the current document the `touch` part owns, with their field paths.
fn texts_of(doc: &automerge::Automerge, touch: &Touch) -> Vec<(TextRef, ObjId)> {
    match touch {
        Touch::Vision => match doc.get(ROOT, keys::VISION) {
            Ok(Some((Value::Object(ObjType::Text), t))) => vec![(TextRef::Vision, t)],
            _ => Vec::new(),
        },
        Touch::Item(id) if id.kind() != ItemKind::Member => {
            let mut out = Vec::new();
            if let Some(collection) = model::map_at(doc, &ROOT, id.kind().collection())
                && let Some(item) = model::map_at(doc, &collection, id.as_str())
            {
                collect_texts(doc, &item, id, "", 0, &mut out);
            }
            out
        }
        _ => Vec::new(),
    }
}

fn collect_texts(
    doc: &automerge::Automerge,
    obj: &ObjId,
    id: &ItemId,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(TextRef, ObjId)>,
) {
    let keys: Vec<String> = doc.keys(obj).collect();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match doc.get(obj, key.as_str()) {
            Ok(Some((Value::Object(ObjType::Text), t))) => out.push((
                TextRef::Item {
                    id: id.clone(),
                    field: path,
                },
                t,
            )),
            Ok(Some((Value::Object(ObjType::Map), m))) if depth < 3 => {
                collect_texts(doc, &m, id, &path, depth + 1, out)
            }
            _ => {}
        }
    }
}

/// What the change `hash` did to each text it edited, by text object.
fn edits_of(
    doc: &automerge::Automerge,
    index: &ChangeIndex,
    hash: &ChangeHash,
) -> HashMap<Elem, TextEdit> {
    let mut out: HashMap<Elem, TextEdit> = HashMap::new();
    let Some(position) = index.position(hash) else {
        return out;
    };
    let Some(change) = doc.get_change_by_hash(hash) else {
        return out;
    };
    let Some(decoded) = guarded(|| change.decode()) else {
        return out;
    };
    let actor = change.actor_id().clone();
    let start = change.start_op().get();
    let own = |e: &legacy::OpId| e.1 == actor && e.0 >= start && e.0 <= change.max_op();
    for (i, op) in decoded.operations.iter().enumerate() {
        let legacy::ObjectId::Id(obj) = &op.obj else {
            continue;
        };
        let legacy::Key::Seq(key) = &op.key else {
            continue;
        };
        let edit = out.entry(legacy_elem(obj)).or_insert_with(|| TextEdit {
            hash: *hash,
            deps: change.deps().to_vec(),
            position,
            deleted: HashSet::new(),
            inserted: HashSet::new(),
            anchors: Vec::new(),
        });
        if op.insert {
            edit.inserted.insert((start + i as u64, actor.clone()));
            match key {
                legacy::ElementId::Head => edit.anchors.push(None),
                legacy::ElementId::Id(a) if !own(a) => edit.anchors.push(Some(legacy_elem(a))),
                legacy::ElementId::Id(_) => {}
            }
        } else if matches!(op.action, legacy::OpType::Delete)
            && let legacy::ElementId::Id(e) = key
        {
            edit.deleted.insert(legacy_elem(e));
        }
    }
    // Characters the change typed and deleted itself are no one else's business.
    for e in out.values_mut() {
        let own_deleted: Vec<Elem> = e.deleted.intersection(&e.inserted).cloned().collect();
        for d in own_deleted {
            e.deleted.remove(&d);
        }
    }
    out.retain(|_, e| !e.deleted.is_empty() || !e.inserted.is_empty());
    out
}

/// What the change at `position` did to the text `key`, decoding it on first use.
fn edit_at(
    doc: &automerge::Automerge,
    index: &ChangeIndex,
    decoded: &mut HashMap<usize, HashMap<Elem, TextEdit>>,
    position: usize,
    key: &Elem,
) -> Option<TextEdit> {
    decoded
        .entry(position)
        .or_insert_with(|| edits_of(doc, index, &index.entries()[position].hash))
        .get(key)
        .cloned()
}

/// The characters of a text as of some heads, in order, with where each stands.
pub(crate) struct Seq {
    pub elems: Vec<Elem>,
    pub chars: Vec<String>,
    at: HashMap<Elem, usize>,
}

impl Seq {
    pub(crate) fn read(
        doc: &automerge::Automerge,
        text: &ObjId,
        heads: Option<&[ChangeHash]>,
    ) -> Seq {
        let mut elems = Vec::new();
        let mut chars = Vec::new();
        let mut push = |item: automerge::iter::ListRangeItem<'_>| {
            if let Some(e) = elem_of(&item.id()) {
                let c = match &item.value {
                    automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => s.to_string(),
                    _ => String::new(),
                };
                elems.push(e);
                chars.push(c);
            }
        };
        match heads {
            None => doc.list_range(text, ..).for_each(&mut push),
            Some([]) => {}
            Some(h) => doc.list_range_at(text, .., h).for_each(&mut push),
        }
        let at = elems
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i))
            .collect();
        Seq { elems, chars, at }
    }

    fn pos(&self, e: &Elem) -> Option<usize> {
        self.at.get(e).copied()
    }

    fn text(&self, r: Range<usize>) -> String {
        self.chars[r].concat()
    }
}

/// The texts at the dependencies of edits, read once each.
struct Bases<'a> {
    doc: &'a automerge::Automerge,
    obj: ObjId,
    read: HashMap<Vec<ChangeHash>, Seq>,
}

impl<'a> Bases<'a> {
    fn new(doc: &'a automerge::Automerge, obj: ObjId) -> Self {
        Bases {
            doc,
            obj,
            read: HashMap::new(),
        }
    }

    fn at(&mut self, deps: &[ChangeHash]) -> &Seq {
        let mut key = deps.to_vec();
        key.sort();
        self.read
            .entry(key)
            .or_insert_with(|| Seq::read(self.doc, &self.obj, Some(deps)))
    }
}

/// Whether `y` typed strictly inside a run of characters `x` deleted.
fn types_inside(x: &TextEdit, y: &TextEdit, bases: &mut Bases<'_>) -> bool {
    let candidates: Vec<&Elem> = y
        .anchors
        .iter()
        .flatten()
        .filter(|a| x.deleted.contains(*a))
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let base = bases.at(&x.deps);
    candidates.into_iter().any(|a| {
        base.pos(a)
            .and_then(|i| base.elems.get(i + 1))
            .is_some_and(|next| x.deleted.contains(next))
    })
}

/// Whether two concurrent edits of one text overlap (see the module's definition).
fn overlap(x: &TextEdit, y: &TextEdit, bases: &mut Bases<'_>) -> bool {
    !x.deleted.is_disjoint(&y.deleted) || types_inside(x, y, bases) || types_inside(y, x, bases)
}

/// Which candidates (by their index among `positions`) each entry of `stretch` has in its past,
/// as bit sets.
fn ancestry(index: &ChangeIndex, stretch: &Range<usize>, positions: &[usize]) -> Vec<Vec<u64>> {
    let words = positions.len().div_ceil(64);
    let bit: HashMap<usize, usize> = positions.iter().enumerate().map(|(b, p)| (*p, b)).collect();
    let entries = index.entries();
    let mut past: Vec<Vec<u64>> = Vec::with_capacity(stretch.len());
    for p in stretch.clone() {
        let mut mine = vec![0u64; words];
        for d in &entries[p].deps {
            let Some(dp) = index.position(d) else {
                continue;
            };
            if !stretch.contains(&dp) || dp >= p {
                continue;
            }
            let theirs = &past[dp - stretch.start];
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m |= t;
            }
            if let Some(b) = bit.get(&dp) {
                mine[b / 64] |= 1 << (b % 64);
            }
        }
        past.push(mine);
    }
    positions
        .iter()
        .map(|p| past[p - stretch.start].clone())
        .collect()
}

fn has(set: &[u64], b: usize) -> bool {
    set[b / 64] & (1 << (b % 64)) != 0
}

/// Unions for grouping overlapping pairs.
fn find(parent: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while parent[r] != r {
        r = parent[r];
    }
    let mut j = i;
    while parent[j] != r {
        let next = parent[j];
        parent[j] = r;
        j = next;
    }
    r
}

/// Where the region stands in `seq`: from its first to its last character still there, or,
/// when none is left, the empty place where it stood (found through `reference`, a text that
/// still holds some of it).
fn region_in(seq: &Seq, region: &HashSet<Elem>, reference: &[Elem]) -> Range<usize> {
    let visible: Vec<usize> = seq
        .elems
        .iter()
        .enumerate()
        .filter(|(_, e)| region.contains(*e))
        .map(|(i, _)| i)
        .collect();
    if let (Some(first), Some(last)) = (visible.first(), visible.last()) {
        return *first..*last + 1;
    }
    // None of it left: the place after the nearest character before it that `seq` holds.
    let Some(first) = reference.iter().position(|e| region.contains(e)) else {
        return seq.elems.len()..seq.elems.len();
    };
    let at = reference[..first]
        .iter()
        .rev()
        .find_map(|e| seq.pos(e))
        .map_or(0, |i| i + 1);
    at..at
}

/// Whether `z` (which has every edit of the conflict in its past) rewrites the region: it
/// deletes a character of it; or, while some of what was typed in it is left, types right after
/// a character of it that is not the last one left; or, when none is left, types where it stood
/// or deletes a character beside it. Reads `z`'s starting text only when it typed right after
/// a character of the region.
fn settles(z: &TextEdit, c: &RawTextConflict, bases: &mut Bases<'_>, marks: &mut Marks) -> bool {
    if !z.deleted.is_disjoint(&c.region) {
        return true;
    }
    if c.typed_left {
        // Until the conflict is settled, what its edits typed and left is there in every later
        // text, in one order: the last of it is found once.
        if !z.anchors.iter().flatten().any(|a| c.region.contains(a)) {
            return false;
        }
        let last = marks
            .last_typed
            .get_or_insert_with(|| c.last_typed(bases))
            .clone();
        return z
            .anchors
            .iter()
            .flatten()
            .any(|a| c.region.contains(a) && Some(a) != last.as_ref());
    }
    let (before, after) = marks.beside.get_or_insert_with(|| c.beside(bases)).clone();
    z.anchors.contains(&before)
        || before.as_ref().is_some_and(|b| z.deleted.contains(b))
        || after.as_ref().is_some_and(|a| z.deleted.contains(a))
}

/// What [`settles`] works out once per conflict.
#[derive(Default)]
struct Marks {
    last_typed: Option<Option<Elem>>,
    beside: Option<(Option<Elem>, Option<Elem>)>,
}

impl RawTextConflict {
    /// The last character (in text order) of what the edits typed and left: read from the
    /// current text when all of it is there, else from the text as of all the edits.
    fn last_typed(&self, bases: &mut Bases<'_>) -> Option<Elem> {
        let left: HashSet<&Elem> = self
            .edits
            .iter()
            .flat_map(|e| e.inserted.iter())
            .filter(|i| !self.edits.iter().any(|d| d.deleted.contains(*i)))
            .collect();
        let current = Seq::read(bases.doc, &bases.obj, None);
        let there = current.elems.iter().filter(|e| left.contains(e)).count();
        let seq = if there == left.len() {
            &current
        } else {
            let heads: Vec<ChangeHash> = self.edits.iter().map(|e| e.hash).collect();
            bases.at(&heads)
        };
        seq.elems.iter().rev().find(|e| left.contains(e)).cloned()
    }

    /// The characters just before and just after the region in the reference text (`None`:
    /// the start, the end).
    fn beside(&self, bases: &mut Bases<'_>) -> (Option<Elem>, Option<Elem>) {
        let reference = self.reference(bases);
        let first = reference.iter().position(|e| self.region.contains(e));
        let last = reference.iter().rposition(|e| self.region.contains(e));
        match (first, last) {
            (Some(f), Some(l)) => (
                f.checked_sub(1).map(|i| reference[i].clone()),
                reference.get(l + 1).cloned(),
            ),
            _ => (None, None),
        }
    }

    /// A text that still holds some of the region: the one an edit that deleted part of it
    /// started from.
    fn reference(&self, bases: &mut Bases<'_>) -> Vec<Elem> {
        let e = self
            .edits
            .iter()
            .find(|e| !e.deleted.is_empty())
            .unwrap_or(&self.edits[0]);
        bases.at(&e.deps).elems.clone()
    }
}

impl Replica {
    /// Every unsettled text conflict, in a canonical order (by text, then by history).
    pub(crate) fn raw_text_conflicts(&self, index: &ChangeIndex) -> Vec<RawTextConflict> {
        let doc = self.doc();
        let entries = index.entries();
        let mut found: Vec<RawTextConflict> = Vec::new();
        // Where each part of the alliance was touched, for looking past a stretch for the
        // change that settled a conflict: one pass, made when a first conflict needs it.
        let mut touching: Option<HashMap<&Touch, Vec<usize>>> = None;
        // What each change read so far did to each text, by position: each decoded once.
        let mut decoded: HashMap<usize, HashMap<Elem, TextEdit>> = HashMap::new();
        for stretch in index.concurrent_stretches() {
            // The changes of this stretch by the part of the alliance they touched.
            let mut by_touch: HashMap<&Touch, Vec<usize>> = HashMap::new();
            for p in stretch.clone() {
                for t in &entries[p].touched {
                    let texty = match t {
                        Touch::Vision => true,
                        Touch::Item(id) => id.kind() != ItemKind::Member,
                        Touch::Alliance => false,
                    };
                    if texty {
                        by_touch.entry(t).or_default().push(p);
                    }
                }
            }
            let mut touches: Vec<(&Touch, Vec<usize>)> =
                by_touch.into_iter().filter(|(_, v)| v.len() >= 2).collect();
            touches.sort();
            for (touch, positions) in touches {
                let texts = texts_of(doc, touch);
                if texts.is_empty() {
                    continue;
                }
                let past = ancestry(index, &stretch, &positions);
                let concurrent = |a: usize, b: usize| !has(&past[a], b) && !has(&past[b], a);
                if !(0..positions.len()).any(|a| (a + 1..positions.len()).any(|b| concurrent(a, b)))
                {
                    continue;
                }
                // Only changes concurrent with another one of them can be in a conflict.
                let open: Vec<usize> = (0..positions.len())
                    .filter(|&a| (0..positions.len()).any(|b| a != b && concurrent(a, b)))
                    .collect();
                for (text, obj) in texts {
                    let Some(key) = elem_of(&obj) else {
                        continue;
                    };
                    // (candidate number, edit) for the changes that edited this text.
                    let edits: Vec<(usize, TextEdit)> = open
                        .iter()
                        .filter_map(|b| {
                            edit_at(doc, index, &mut decoded, positions[*b], &key).map(|e| (*b, e))
                        })
                        .collect();
                    if edits.len() < 2 {
                        continue;
                    }
                    let mut bases = Bases::new(doc, obj.clone());
                    let mut parent: Vec<usize> = (0..edits.len()).collect();
                    let mut in_conflict = vec![false; edits.len()];
                    for i in 0..edits.len() {
                        for j in i + 1..edits.len() {
                            let (a, x) = (&edits[i].0, &edits[i].1);
                            let (b, y) = (&edits[j].0, &edits[j].1);
                            if concurrent(*a, *b) && overlap(x, y, &mut bases) {
                                in_conflict[i] = true;
                                in_conflict[j] = true;
                                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                                parent[ri.max(rj)] = ri.min(rj);
                            }
                        }
                    }
                    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
                    for i in (0..edits.len()).filter(|i| in_conflict[*i]) {
                        let root = find(&mut parent, i);
                        match groups.iter_mut().find(|(r, _)| *r == root) {
                            Some((_, g)) => g.push(i),
                            None => groups.push((root, vec![i])),
                        }
                    }
                    for (_, mut group) in groups {
                        let region_of = |group: &[usize]| -> HashSet<Elem> {
                            group
                                .iter()
                                .flat_map(|i| {
                                    let e = &edits[*i].1;
                                    e.deleted.iter().chain(&e.inserted).cloned()
                                })
                                .collect()
                        };
                        // An edit that builds on one side's edit of the region while still
                        // concurrent with another side (a second thought before syncing)
                        // belongs to that side.
                        loop {
                            let region = region_of(&group);
                            let joining: Vec<usize> = (0..edits.len())
                                .filter(|k| !group.contains(k))
                                .filter(|&k| {
                                    let (b, z) = (&edits[k].0, &edits[k].1);
                                    let after = |m: &usize| has(&past[*b], edits[*m].0);
                                    group.iter().any(after)
                                        && !group.iter().all(after)
                                        && (!z.deleted.is_disjoint(&region)
                                            || z.anchors
                                                .iter()
                                                .flatten()
                                                .any(|a| region.contains(a)))
                                })
                                .collect();
                            if joining.is_empty() {
                                break;
                            }
                            group.extend(joining);
                        }
                        group.sort_unstable();
                        let members: Vec<(usize, TextEdit)> =
                            group.iter().map(|i| edits[*i].clone()).collect();
                        let sides: Vec<usize> = (0..members.len())
                            .filter(|&i| !members.iter().any(|(b, _)| has(&past[*b], members[i].0)))
                            .collect();
                        let region = region_of(&group);
                        let typed_left = members.iter().any(|(_, e)| {
                            e.inserted
                                .iter()
                                .any(|i| !members.iter().any(|(_, d)| d.deleted.contains(i)))
                        });
                        let conflict = RawTextConflict {
                            text: text.clone(),
                            obj: obj.clone(),
                            edits: members.iter().map(|(_, e)| e.clone()).collect(),
                            sides,
                            region,
                            typed_left,
                        };
                        // Settled by a later edit of this text that has all of it in its past.
                        let last = conflict.edits.iter().map(|e| e.position).max().unwrap_or(0);
                        let bits: Vec<usize> = members.iter().map(|(b, _)| *b).collect();
                        // In the stretch: the edits of this text already read.
                        let mut marks = Marks::default();
                        let mut settled = false;
                        for (b, p) in positions.iter().enumerate() {
                            if *p <= last || !bits.iter().all(|m| has(&past[b], *m)) {
                                continue;
                            }
                            if let Some(z) = edit_at(doc, index, &mut decoded, *p, &key)
                                && settles(&z, &conflict, &mut bases, &mut marks)
                            {
                                settled = true;
                                break;
                            }
                        }
                        if !settled {
                            let touching = touching.get_or_insert_with(|| {
                                let mut m: HashMap<&Touch, Vec<usize>> = HashMap::new();
                                for (p, e) in entries.iter().enumerate() {
                                    for t in &e.touched {
                                        m.entry(t).or_default().push(p);
                                    }
                                }
                                m
                            });
                            let later = touching.get(touch).map_or(&[][..], |v| v.as_slice());
                            let from = later.partition_point(|p| *p < stretch.end);
                            for p in &later[from..] {
                                if let Some(z) = edit_at(doc, index, &mut decoded, *p, &key)
                                    && settles(&z, &conflict, &mut bases, &mut marks)
                                {
                                    settled = true;
                                    break;
                                }
                            }
                        }
                        if !settled {
                            found.push(conflict);
                        }
                    }
                }
            }
        }
        found.sort_by(|a, b| (&a.text, a.edits[0].position).cmp(&(&b.text, b.edits[0].position)));
        found
    }
}
