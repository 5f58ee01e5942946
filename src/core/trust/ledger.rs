//! The small state a receiver advances change by change, in causal order, to judge a batch
//! before any of it reaches a document (docs/architecture.md, "Where each rule is enforced").
//!
//! A received change is judged as of its dependencies. Its past is made of two parts: what
//! the replica already holds (trusted: everything in it was judged), read through Automerge's
//! historical reads at the change's *frontier* (the replica's changes it has in its past), and
//! the changes of the batch before it, which no document holds yet. The ledger keeps, for the
//! batch's changes judged so far:
//! - each change's vector clock (Automerge's own notion of "in the past of": an actor's change
//!   `seq` is in a change's past when the clock holds at least `seq` for that actor), shared
//!   along an actor's chain, so memory grows with merges and switches of author, not with
//!   changes;
//! - the operations on the parts of the document the rules read (the top level, people,
//!   devices, needs, and the entries of expectations and check-ins: paths of at most three
//!   steps), with the change that made each and the operations it supersedes;
//! - the objects the batch made, and which change made each.
//!
//! From these, [`Point`] answers "what did `obj[key]` hold as of this change's dependencies"
//! as Automerge would (the visible values, the winner last), without a document. No I/O.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use automerge::{ActorId, Automerge, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};

/// An operation's ID as `pred` lists it: its counter and actor.
pub type OpKey = (u64, ActorId);

/// How many clock entries a batch may materialise (a clock is copied at each merge and each
/// switch of author): far above any family's history, a bound on a hostile one's.
pub const MAX_CLOCK_WORDS: usize = 1 << 26;

/// The values of one key, each with its ID.
type Values = Vec<(Val, ObjId)>;

/// A value as the rules read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Obj(ObjType),
    Scalar(ScalarValue),
}

impl Val {
    pub fn from_value(v: &Value<'_>) -> Val {
        match v {
            Value::Object(t) => Val::Obj(*t),
            Value::Scalar(s) => Val::Scalar(s.as_ref().clone()),
        }
    }
}

/// The key of an operation, from Automerge's exported ID.
pub fn op_key(id: &ObjId) -> Option<OpKey> {
    match id {
        ObjId::Root => None,
        ObjId::Id(counter, actor, _) => Some((*counter, actor.clone())),
    }
}

/// An object the batch made, as an ID the ledger compares (Automerge compares exported IDs by
/// counter and actor). Its actor index is out of range on purpose: it is never read from the
/// replica, which does not hold it (a read would be refused under the panic guard).
pub fn new_obj(counter: u64, actor: &ActorId) -> ObjId {
    ObjId::Id(counter, actor.clone(), usize::MAX)
}

/// One recorded operation on a map key.
struct OpRec {
    id: OpKey,
    change: usize,
    /// `None` for a delete.
    value: Option<Val>,
}

/// A write the ledger records (see [`Ledger::note`]).
pub struct Noted {
    pub obj: ObjId,
    pub key: String,
    pub id: OpKey,
    pub pred: Vec<OpKey>,
    /// `None` for a delete (or an operation that holds no value, like an increment).
    pub value: Option<Val>,
    /// It writes what a device's standing is read from: a device's entry or its fields, a
    /// person's entry, or a person's removal.
    pub membership: bool,
}

/// A change's vector clock: `base`, with the change's own actor at `seq`.
#[derive(Clone)]
struct Clock {
    base: Arc<Vec<u32>>,
    actor: u32,
    seq: u32,
}

impl Clock {
    fn get(&self, actor: u32) -> u32 {
        if actor == self.actor {
            self.seq
                .max(self.base.get(actor as usize).copied().unwrap_or(0))
        } else {
            self.base.get(actor as usize).copied().unwrap_or(0)
        }
    }

    fn materialise(&self, width: usize) -> Vec<u32> {
        let mut v = self.base.as_ref().clone();
        v.resize(width.max(v.len()), 0);
        let a = self.actor as usize;
        if a < v.len() {
            v[a] = v[a].max(self.seq);
        }
        v
    }
}

/// The clock of a change's dependencies in the batch.
#[derive(Clone)]
enum Pre {
    Empty,
    One(Clock),
    Merged(Arc<Vec<u32>>),
}

impl Pre {
    fn get(&self, actor: u32) -> u32 {
        match self {
            Pre::Empty => 0,
            Pre::One(c) => c.get(actor),
            Pre::Merged(v) => v.get(actor as usize).copied().unwrap_or(0),
        }
    }
}

struct Node {
    actor: u32,
    seq: u32,
    pre: Pre,
    clock: Clock,
    /// The replica's changes in this change's past (not minimal), interned.
    frontier: usize,
}

/// The batch grew wider than [`MAX_CLOCK_WORDS`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooWide;

/// See the module's documentation.
pub struct Ledger<'d> {
    base: &'d Automerge,
    base_heads: Vec<ChangeHash>,
    actors: HashMap<ActorId, u32>,
    index: HashMap<ChangeHash, usize>,
    nodes: Vec<Node>,
    /// Per object, per key, the operations on it.
    registers: HashMap<ObjId, HashMap<String, Vec<OpRec>>>,
    superseded: HashMap<OpKey, Vec<usize>>,
    objects: HashMap<ObjId, usize>,
    /// The changes that wrote what standing is read from (see [`Noted::membership`]).
    membership: Vec<usize>,
    /// Per author, the newest change found a member device's, and its person.
    standing: HashMap<crate::core::trust::identity::DeviceId, (usize, crate::core::ids::ItemId)>,
    frontiers: Vec<Arc<Vec<ChangeHash>>>,
    frontier_ids: HashMap<Arc<Vec<ChangeHash>>, usize>,
    cache: RefCell<HashMap<(usize, ObjId, String), Values>>,
    words: usize,
}

impl<'d> Ledger<'d> {
    /// A ledger over `base`, the replica the batch joins (it holds the past of the batch
    /// outside the batch).
    pub fn new(base: &'d Automerge) -> Ledger<'d> {
        let mut ledger = Ledger {
            base,
            base_heads: base.get_heads(),
            actors: HashMap::new(),
            index: HashMap::new(),
            nodes: Vec::new(),
            registers: HashMap::new(),
            superseded: HashMap::new(),
            objects: HashMap::new(),
            membership: Vec::new(),
            standing: HashMap::new(),
            frontiers: Vec::new(),
            frontier_ids: HashMap::new(),
            cache: RefCell::new(HashMap::new()),
            words: 0,
        };
        ledger.intern(Vec::new());
        ledger
    }

    fn intern(&mut self, mut frontier: Vec<ChangeHash>) -> usize {
        frontier.sort();
        frontier.dedup();
        let frontier = Arc::new(frontier);
        if let Some(id) = self.frontier_ids.get(&frontier) {
            return *id;
        }
        let id = self.frontiers.len();
        self.frontiers.push(frontier.clone());
        self.frontier_ids.insert(frontier, id);
        id
    }

    /// Enters the next change of the batch (causal order: every dependency is in the replica
    /// or entered before). Returns its index, for [`Ledger::point`] and [`Ledger::note`].
    pub fn enter(
        &mut self,
        hash: ChangeHash,
        actor: &ActorId,
        seq: u64,
        deps: &[ChangeHash],
    ) -> Result<usize, TooWide> {
        let next = self.actors.len() as u32;
        let a = *self.actors.entry(actor.clone()).or_insert(next);
        let width = self.actors.len();
        let seq = u32::try_from(seq).unwrap_or(u32::MAX);
        let in_batch: Vec<usize> = deps
            .iter()
            .filter_map(|d| self.index.get(d).copied())
            .collect();
        let own_frontier: Vec<ChangeHash> = deps
            .iter()
            .filter(|d| !self.index.contains_key(*d))
            .copied()
            .collect();
        let pre = match in_batch.as_slice() {
            [] => Pre::Empty,
            [d] => Pre::One(self.nodes[*d].clock.clone()),
            many => {
                let mut v = vec![0u32; width];
                for d in many {
                    let c = &self.nodes[*d].clock;
                    for (i, slot) in v.iter_mut().enumerate() {
                        *slot = (*slot).max(c.get(i as u32));
                    }
                }
                self.spend(width)?;
                Pre::Merged(Arc::new(v))
            }
        };
        let clock = match &pre {
            Pre::Empty => Clock {
                base: Arc::new(Vec::new()),
                actor: a,
                seq,
            },
            Pre::One(c) if c.actor == a => Clock {
                base: c.base.clone(),
                actor: a,
                seq,
            },
            Pre::One(c) => {
                self.spend(width)?;
                Clock {
                    base: Arc::new(c.materialise(width)),
                    actor: a,
                    seq,
                }
            }
            Pre::Merged(v) => Clock {
                base: v.clone(),
                actor: a,
                seq,
            },
        };
        let inherited: Vec<usize> = in_batch.iter().map(|d| self.nodes[*d].frontier).collect();
        let frontier = match (inherited.as_slice(), own_frontier.is_empty()) {
            ([], true) => 0,
            ([one], true) => *one,
            _ => {
                let mut all = own_frontier;
                for f in inherited {
                    all.extend(self.frontiers[f].iter().copied());
                }
                self.intern(all)
            }
        };
        let i = self.nodes.len();
        self.nodes.push(Node {
            actor: a,
            seq,
            pre,
            clock,
            frontier,
        });
        self.index.insert(hash, i);
        Ok(i)
    }

    fn spend(&mut self, words: usize) -> Result<(), TooWide> {
        self.words = self.words.saturating_add(words);
        if self.words > MAX_CLOCK_WORDS {
            return Err(TooWide);
        }
        Ok(())
    }

    /// Whether batch change `x` is in the past of change `of` (as of its dependencies).
    fn sees(&self, of: usize, x: usize) -> bool {
        let n = &self.nodes[x];
        x < of && self.nodes[of].pre.get(n.actor) >= n.seq
    }

    /// Records an object change `change` made.
    pub fn made(&mut self, change: usize, obj: ObjId) {
        self.objects.insert(obj, change);
    }

    /// Records the writes of change `change` (judged) that the rules read.
    pub fn note(&mut self, change: usize, writes: Vec<Noted>) {
        if writes.iter().any(|w| w.membership) {
            self.membership.push(change);
        }
        for w in writes {
            for p in w.pred {
                self.superseded.entry(p).or_default().push(change);
            }
            self.registers
                .entry(w.obj)
                .or_default()
                .entry(w.key)
                .or_default()
                .push(OpRec {
                    id: w.id,
                    change,
                    value: w.value,
                });
        }
    }

    /// The person `author` writes for as of change `of`'s dependencies, when it follows from
    /// an earlier change: a change by the same device in `of`'s past was found a member
    /// device's, the two have the same replica frontier, and no change of the batch between
    /// them wrote a device's entry or a removal. (Entries are written once and never deleted,
    /// removals are never undone, and only judged changes are noted, so nothing else can
    /// change a standing.) `None`: read it in full ([`Point`]).
    pub fn known_member(
        &self,
        of: usize,
        author: &crate::core::trust::identity::DeviceId,
    ) -> Option<&crate::core::ids::ItemId> {
        let (x, person) = self.standing.get(author)?;
        let x = *x;
        let same_frontier = self.nodes[x].frontier == self.nodes[of].frontier;
        let untouched = !self.membership.iter().any(|&r| r >= x && self.sees(of, r));
        (self.sees(of, x) && same_frontier && untouched).then_some(person)
    }

    /// Records that `author` was a member device's, of `person`, as of change `of`'s
    /// dependencies (see [`Ledger::known_member`]).
    pub fn member_found(
        &mut self,
        of: usize,
        author: crate::core::trust::identity::DeviceId,
        person: crate::core::ids::ItemId,
    ) {
        self.standing.insert(author, (of, person));
    }

    /// The replica's changes in change `of`'s past, when nothing of the batch in its past
    /// wrote what a standing is read from: then its author's standing is the replica's at
    /// them (read with [`member_at`](crate::core::trust::rules::member_at)).
    pub fn replica_only(&self, of: usize) -> Option<&[ChangeHash]> {
        let frontier = &self.frontiers[self.nodes[of].frontier];
        let untouched = !self.membership.iter().any(|&r| self.sees(of, r));
        (!frontier.is_empty() && untouched).then_some(frontier.as_slice())
    }

    /// The document as of change `of`'s dependencies.
    pub fn point(&self, of: usize) -> Point<'_, 'd> {
        Point { ledger: self, of }
    }

    /// The replica's values of `obj[key]` as of frontier `f` (cached: a batch's changes
    /// usually share a frontier).
    fn base_all(&self, f: usize, obj: &ObjId, key: &str) -> Vec<(Val, ObjId)> {
        let frontier = &self.frontiers[f];
        if frontier.is_empty() || self.objects.contains_key(obj) {
            return Vec::new();
        }
        let k = (f, obj.clone(), key.to_string());
        if let Some(v) = self.cache.borrow().get(&k) {
            return v.clone();
        }
        let read = if **frontier == self.base_heads {
            self.base.get_all(obj, key)
        } else {
            self.base.get_all_at(obj, key, frontier)
        };
        let v: Vec<(Val, ObjId)> = read
            .unwrap_or_default()
            .iter()
            .map(|(v, id)| (Val::from_value(v), id.clone()))
            .collect();
        self.cache.borrow_mut().insert(k, v.clone());
        v
    }

    fn base_keys(&self, f: usize, obj: &ObjId) -> Vec<String> {
        let frontier = &self.frontiers[f];
        if frontier.is_empty() || self.objects.contains_key(obj) {
            return Vec::new();
        }
        if **frontier == self.base_heads {
            self.base.keys(obj).collect()
        } else {
            self.base.keys_at(obj, frontier).collect()
        }
    }
}

/// The document as of one change's dependencies, read from the ledger and the replica.
pub struct Point<'l, 'd> {
    ledger: &'l Ledger<'d>,
    of: usize,
}

impl Point<'_, '_> {
    fn superseded(&self, id: &OpKey) -> bool {
        self.ledger
            .superseded
            .get(id)
            .is_some_and(|by| by.iter().any(|&c| self.ledger.sees(self.of, c)))
    }

    /// Every value `obj[key]` held as of the dependencies, the winner (Automerge's: highest
    /// counter, then actor) last.
    pub fn all(&self, obj: &ObjId, key: &str) -> Vec<(Val, ObjId)> {
        let l = self.ledger;
        let mut out: Vec<(OpKey, Val, ObjId)> = Vec::new();
        for (v, id) in l.base_all(l.nodes[self.of].frontier, obj, key) {
            if let Some(k) = op_key(&id)
                && !self.superseded(&k)
            {
                out.push((k, v, id));
            }
        }
        if let Some(ops) = l.registers.get(obj).and_then(|keys| keys.get(key)) {
            for op in ops {
                if let Some(v) = &op.value
                    && l.sees(self.of, op.change)
                    && !self.superseded(&op.id)
                {
                    out.push((op.id.clone(), v.clone(), new_obj(op.id.0, &op.id.1)));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, v, id)| (v, id)).collect()
    }

    /// The winning value of `obj[key]` as of the dependencies.
    pub fn get(&self, obj: &ObjId, key: &str) -> Option<(Val, ObjId)> {
        self.all(obj, key).pop()
    }

    /// The keys of map `obj` that held something as of the dependencies.
    pub fn keys(&self, obj: &ObjId) -> Vec<String> {
        let l = self.ledger;
        let mut keys: BTreeSet<String> = l
            .base_keys(l.nodes[self.of].frontier, obj)
            .into_iter()
            .collect();
        if let Some(k) = l.registers.get(obj) {
            keys.extend(k.keys().cloned());
        }
        keys.into_iter()
            .filter(|k| !self.all(obj, k).is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn a_value_is_seen_only_by_the_changes_that_have_it_in_their_past() {
        let doc = Automerge::new();
        let mut l = Ledger::new(&doc);
        let (a, b) = (ActorId::from(vec![1u8; 4]), ActorId::from(vec![2u8; 4]));
        let g = l.enter(hash(1), &a, 1, &[]).unwrap();
        let obj = ObjId::Root;
        l.note(
            g,
            vec![Noted {
                obj: obj.clone(),
                key: "k".into(),
                id: (1, a.clone()),
                pred: vec![],
                value: Some(Val::Scalar(ScalarValue::Int(1))),
                membership: false,
            }],
        );
        // b builds on g; a's second change builds on g too; a merge of both.
        let b1 = l.enter(hash(2), &b, 1, &[hash(1)]).unwrap();
        l.note(
            b1,
            vec![Noted {
                obj: obj.clone(),
                key: "k".into(),
                id: (2, b.clone()),
                pred: vec![(1, a.clone())],
                value: Some(Val::Scalar(ScalarValue::Int(2))),
                membership: false,
            }],
        );
        let a2 = l.enter(hash(3), &a, 2, &[hash(1)]).unwrap();
        let m = l.enter(hash(4), &a, 3, &[hash(2), hash(3)]).unwrap();
        let int = |p: Point<'_, '_>| match p.get(&obj, "k") {
            Some((Val::Scalar(ScalarValue::Int(n)), _)) => n,
            _ => 0,
        };
        assert_eq!(int(l.point(g)), 0);
        assert_eq!(int(l.point(b1)), 1);
        assert_eq!(int(l.point(a2)), 1);
        assert_eq!(int(l.point(m)), 2);
        assert_eq!(l.point(m).all(&obj, "k").len(), 1);
        assert_eq!(l.point(m).keys(&obj), vec!["k".to_string()]);
    }
}
