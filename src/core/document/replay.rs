//! One item of the alliance read forward, change by change, from the changes' own operations.
//!
//! An item's history needs the item before and after each change that touched it. Reading the
//! document as of a point in its past (`get_at`, `text_at`) costs a pass over every operation
//! the item's objects ever held, deleted characters included; an expectation reworded five
//! thousand times holds hundreds of thousands, so reading it at every version costs the square
//! of its versions. [`ItemReplay`] instead keeps the item as a small document of its own
//! (maps of live values, texts and lists as sequences in Automerge's order) and applies each
//! touching change's operations to it, in causal order: reading it costs what the item holds
//! now, and applying a change costs its operations.
//!
//! The replay holds the merge of every change applied so far, which is the item as of a change
//! exactly when all of them are in that change's past (the item's changes form a chain there);
//! [`ChainCheck`] answers that from the history index, and the history falls back to
//! Automerge's historical reads for a version that is concurrent with another. Automerge's
//! semantics are followed where they decide what is read:
//!
//! - a map key (or list element) holds the values no later operation named as its
//!   predecessor; the one with the greatest operation ID wins, and all of them show, in ID
//!   order, while there are several (a conflict);
//! - an element inserted after another goes right after it, past the elements inserted after
//!   the same one with greater IDs (which, IDs being Lamport timestamps, also skips everything
//!   inserted after those);
//! - an element is visible while it holds a value.
//!
//! Anything the replay does not model (counters, marks, tables, the item being made twice or
//! deleted) makes [`ItemReplay::apply`] say so, and the caller reads the document instead. A
//! test compares the replay with Automerge's own reads on random concurrent histories. No I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::legacy::{self, ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::core::document::index::ChangeIndex;
use crate::core::document::model::{CONFLICT_MARK, scalar};
use crate::core::ids::{ItemId, ItemKind};

/// Something the replay does not model; the caller reads the document instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

#[derive(Debug, Clone)]
enum Val {
    Scalar(ScalarValue),
    Object(OpId),
}

/// A value no later operation has overwritten or deleted.
#[derive(Debug, Clone)]
struct Live {
    id: OpId,
    val: Val,
}

/// Removes the values `pred` names and adds `new` (kept in ID order).
fn overwrite(values: &mut Vec<Live>, pred: &[OpId], new: Option<Live>) {
    values.retain(|v| !pred.contains(&v.id));
    if let Some(new) = new {
        let at = values.partition_point(|v| v.id < new.id);
        values.insert(at, new);
    }
}

#[derive(Debug)]
struct Elem {
    id: OpId,
    values: Vec<Live>,
    /// The neighbours in the whole sequence (deleted elements included).
    prev: Option<usize>,
    next: Option<usize>,
    /// The neighbours among visible elements only (meaningful while visible).
    vprev: Option<usize>,
    vnext: Option<usize>,
    visible: bool,
}

/// A text or list: every element ever inserted, in Automerge's order, with the visible ones
/// also linked to each other so reading skips the deleted ones.
#[derive(Debug, Default)]
struct Seq {
    elems: Vec<Elem>,
    at: HashMap<OpId, usize>,
    first: Option<usize>,
    vfirst: Option<usize>,
}

impl Seq {
    fn insert(&mut self, anchor: &ElementId, live: Live) -> Result<(), Unsupported> {
        let id = live.id.clone();
        if self.at.contains_key(&id) {
            return Err(Unsupported("an element inserted twice"));
        }
        // Start right after the anchor, and skip the elements inserted after it with greater
        // IDs (and so everything inserted after those).
        let (mut prev, mut next) = match anchor {
            ElementId::Head => (None, self.first),
            ElementId::Id(a) => {
                let &i = self
                    .at
                    .get(a)
                    .ok_or(Unsupported("an insertion after an unknown element"))?;
                (Some(i), self.elems[i].next)
            }
        };
        while let Some(n) = next {
            if self.elems[n].id > id {
                prev = Some(n);
                next = self.elems[n].next;
            } else {
                break;
            }
        }
        let i = self.elems.len();
        self.elems.push(Elem {
            id: id.clone(),
            values: vec![live],
            prev,
            next,
            vprev: None,
            vnext: None,
            visible: false,
        });
        match prev {
            Some(p) => self.elems[p].next = Some(i),
            None => self.first = Some(i),
        }
        if let Some(n) = next {
            self.elems[n].prev = Some(i);
        }
        self.at.insert(id, i);
        self.refresh(i);
        Ok(())
    }

    fn update(&mut self, elem: &OpId, pred: &[OpId], new: Option<Live>) -> Result<(), Unsupported> {
        let &i = self
            .at
            .get(elem)
            .ok_or(Unsupported("an update of an unknown element"))?;
        overwrite(&mut self.elems[i].values, pred, new);
        self.refresh(i);
        Ok(())
    }

    /// Links element `i` into the visible list, or out of it, as its values say.
    fn refresh(&mut self, i: usize) {
        let visible = !self.elems[i].values.is_empty();
        if visible == self.elems[i].visible {
            return;
        }
        self.elems[i].visible = visible;
        if visible {
            // The nearest visible element before it in the whole sequence.
            let mut p = self.elems[i].prev;
            while let Some(j) = p {
                if self.elems[j].visible {
                    break;
                }
                p = self.elems[j].prev;
            }
            let next = match p {
                Some(j) => self.elems[j].vnext,
                None => self.vfirst,
            };
            self.elems[i].vprev = p;
            self.elems[i].vnext = next;
            match p {
                Some(j) => self.elems[j].vnext = Some(i),
                None => self.vfirst = Some(i),
            }
            if let Some(n) = next {
                self.elems[n].vprev = Some(i);
            }
        } else {
            let (p, n) = (self.elems[i].vprev, self.elems[i].vnext);
            match p {
                Some(j) => self.elems[j].vnext = n,
                None => self.vfirst = n,
            }
            if let Some(n) = n {
                self.elems[n].vprev = p;
            }
        }
    }

    fn visible(&self) -> impl Iterator<Item = &Elem> {
        std::iter::successors(self.vfirst.map(|i| &self.elems[i]), |e| {
            e.vnext.map(|i| &self.elems[i])
        })
    }
}

#[derive(Debug)]
enum Obj {
    Map(HashMap<String, Vec<Live>>),
    Seq(ObjType, Seq),
}

/// One item (not a member: a member's history also reads the devices map) replayed forward.
#[derive(Debug)]
pub struct ItemReplay {
    /// The map that holds the item's kind (`expectations`, ...), as an operation ID.
    collection: OpId,
    key: String,
    root: Option<OpId>,
    objs: HashMap<OpId, Obj>,
}

fn op_id_of(exid: &automerge::ObjId) -> Option<OpId> {
    exid.to_string().parse().ok()
}

impl ItemReplay {
    /// A replay of item `id` of `doc`, empty (before any change). `None` for a member, or
    /// when the document has no collection for the item's kind.
    pub fn new(doc: &automerge::Automerge, id: &ItemId) -> Option<ItemReplay> {
        if id.kind() == ItemKind::Member {
            return None;
        }
        let collection = match doc.get(ROOT, id.kind().collection()) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => op_id_of(&obj)?,
            _ => return None,
        };
        Some(ItemReplay {
            collection,
            key: id.as_str().to_string(),
            root: None,
            objs: HashMap::new(),
        })
    }

    /// Applies one change's operations (those on the item's objects; the rest are ignored).
    pub fn apply(&mut self, change: &automerge::Change) -> Result<(), Unsupported> {
        let expanded = crate::core::trust::guard::guarded(|| change.decode())
            .ok_or(Unsupported("a change whose operations cannot be read"))?;
        let start = change.start_op().get();
        for (i, op) in expanded.operations.iter().enumerate() {
            let counter = start
                .checked_add(i as u64)
                .ok_or(Unsupported("an operation counter out of range"))?;
            self.op(OpId(counter, change.actor_id().clone()), op)?;
        }
        Ok(())
    }

    fn op(&mut self, id: OpId, op: &legacy::Op) -> Result<(), Unsupported> {
        let ObjectId::Id(obj) = &op.obj else {
            return Ok(());
        };
        let pred: Vec<OpId> = op.pred.iter().cloned().collect();
        if *obj == self.collection {
            match (&op.key, &op.action) {
                (Key::Map(k), _) if k.as_str() != self.key => return Ok(()),
                (_, OpType::Make(ObjType::Map)) if self.root.is_none() && pred.is_empty() => {
                    self.objs.insert(id.clone(), Obj::Map(HashMap::new()));
                    self.root = Some(id);
                    return Ok(());
                }
                _ => return Err(Unsupported("the item made again or deleted")),
            }
        }
        let new = match &op.action {
            OpType::Put(v) => Some(Live {
                id: id.clone(),
                val: Val::Scalar(v.clone()),
            }),
            OpType::Make(t @ (ObjType::Map | ObjType::List | ObjType::Text)) => {
                if !self.objs.contains_key(obj) {
                    return Ok(());
                }
                self.objs.insert(
                    id.clone(),
                    match t {
                        ObjType::Map => Obj::Map(HashMap::new()),
                        _ => Obj::Seq(*t, Seq::default()),
                    },
                );
                Some(Live {
                    id: id.clone(),
                    val: Val::Object(id.clone()),
                })
            }
            OpType::Delete => None,
            OpType::Make(ObjType::Table) => return Err(Unsupported("a table")),
            OpType::Increment(_) => return Err(Unsupported("a counter")),
            OpType::MarkBegin(_) | OpType::MarkEnd(_) => return Err(Unsupported("a mark")),
        };
        let Some(target) = self.objs.get_mut(obj) else {
            return Ok(());
        };
        match (target, &op.key) {
            (Obj::Map(map), Key::Map(k)) => {
                let values = map.entry(k.to_string()).or_default();
                overwrite(values, &pred, new);
                if values.is_empty() {
                    map.remove(k.as_str());
                }
                Ok(())
            }
            (Obj::Seq(_, seq), Key::Seq(anchor)) if op.insert => match new {
                Some(live) => seq.insert(anchor, live),
                None => Err(Unsupported("a deletion marked as an insertion")),
            },
            (Obj::Seq(_, seq), Key::Seq(ElementId::Id(elem))) => seq.update(elem, &pred, new),
            _ => Err(Unsupported("a key that does not fit its object")),
        }
    }

    /// The item's fields, flattened as [`item_at`](crate::core::document::history::item_at) reads them.
    pub fn read(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Obj::Map(map)) = self.root.as_ref().and_then(|r| self.objs.get(r)) {
            self.flatten(map, "", &mut out);
        }
        out
    }

    fn flatten(
        &self,
        map: &HashMap<String, Vec<Live>>,
        prefix: &str,
        out: &mut BTreeMap<String, String>,
    ) {
        for (key, values) in map {
            let Some(winner) = values.last() else {
                continue;
            };
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match &winner.val {
                Val::Scalar(s) => {
                    let value = if values.len() > 1 {
                        let all: Vec<String> = values
                            .iter()
                            .map(|v| match &v.val {
                                Val::Scalar(s) => scalar(s),
                                Val::Object(_) => "(object)".into(),
                            })
                            .collect();
                        format!("{} {CONFLICT_MARK}", all.join(" | "))
                    } else {
                        scalar(s)
                    };
                    out.insert(path, value);
                }
                Val::Object(o) => match self.objs.get(o) {
                    Some(Obj::Map(m)) => self.flatten(m, &path, out),
                    Some(Obj::Seq(ObjType::Text, seq)) => {
                        out.insert(path, self.text(seq));
                    }
                    Some(Obj::Seq(_, seq)) => {
                        let items: Vec<String> = seq
                            .visible()
                            .filter_map(|e| match &e.values.last()?.val {
                                Val::Scalar(s) => Some(scalar(s)),
                                Val::Object(o) => match self.objs.get(o) {
                                    Some(Obj::Seq(ObjType::Text, t)) => Some(self.text(t)),
                                    _ => None,
                                },
                            })
                            .collect();
                        out.insert(path, items.join(", "));
                    }
                    None => {}
                },
            }
        }
    }

    fn text(&self, seq: &Seq) -> String {
        let mut s = String::new();
        for e in seq.visible() {
            match e.values.last().map(|v| &v.val) {
                Some(Val::Scalar(ScalarValue::Str(c))) => s.push_str(c),
                // Automerge reads any other element of a text as one replacement character.
                _ => s.push('\u{fffc}'),
            }
        }
        s
    }
}

/// Whether every change applied to a replay so far is in the past of the next one: then the
/// replay reads as the item did right before that change. Walks the history index back from
/// the change, no further than the oldest change it looks for.
#[derive(Debug, Default)]
pub struct ChainCheck {
    /// The changes applied so far that no other applied change has in its past.
    frontier: Vec<ChangeHash>,
}

impl ChainCheck {
    /// Whether all changes recorded so far are in the past of `hash`; then records `hash`.
    pub fn follows(&mut self, index: &ChangeIndex, hash: &ChangeHash) -> bool {
        let found = self.ancestors_among(index, hash);
        let all = found.len() == self.frontier.len();
        self.frontier.retain(|f| !found.contains(f));
        self.frontier.push(*hash);
        all
    }

    fn ancestors_among(&self, index: &ChangeIndex, hash: &ChangeHash) -> HashSet<ChangeHash> {
        let mut found = HashSet::new();
        let Some(floor) = self.frontier.iter().filter_map(|f| index.position(f)).min() else {
            return found;
        };
        let mut seen = HashSet::new();
        let mut stack: Vec<ChangeHash> =
            index.get(hash).map(|e| e.deps.clone()).unwrap_or_default();
        while let Some(h) = stack.pop() {
            if found.len() == self.frontier.len() {
                break;
            }
            if !seen.insert(h) {
                continue;
            }
            let Some(at) = index.position(&h) else {
                continue;
            };
            if at < floor {
                continue;
            }
            if self.frontier.contains(&h) {
                found.insert(h);
            }
            if let Some(e) = index.get(&h) {
                stack.extend(e.deps.iter().copied());
            }
        }
        found
    }
}
