//! Who may write what: the rules every device applies to every change it receives (the table
//! is in docs/schema.md, "Who may write what"). No I/O.
//!
//! A change is judged on its own operations, against the document *as of the change's
//! dependencies*, so that every device decides the same way whatever else it holds: each
//! operation's object is traced to its path in the document (`members/m4k2x/role`,
//! `expectations/e7kq2/agreements/m9abc/at`), and the path's rule is checked for the change's
//! author (the person its device belonged to, as of the dependencies). A change that breaks a
//! rule is refused whole ([`Broken`]).

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};

use crate::core::trust::ledger::{Noted, Point, Val, new_obj};
use automerge::{ScalarValue, legacy};

use crate::core::document::model::keys;
use crate::core::ids::ItemId;
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;

/// A change that breaks one of the rules. Nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {hash} by device {author} breaks the rule that {rule} ({what})")]
pub struct Broken {
    pub hash: String,
    pub author: String,
    /// The rule, in words, as docs/schema.md writes it.
    pub rule: &'static str,
    /// What the change tried.
    pub what: String,
}

/// The rules, in words.
pub mod rule {
    pub const TOP: &str = "the alliance's top-level parts are made by its first change only";
    pub const ADD_PERSON: &str = "only an admin adds a person";
    pub const KEEP_PEOPLE: &str =
        "a person is never deleted or replaced (they leave or are removed)";
    pub const NAME: &str = "a person's name is changed by that person or an admin";
    pub const ROLE: &str = "roles and admin rights are changed by an admin";
    pub const REMOVE_PERSON: &str = "a person is removed by an admin, or leaves by themselves";
    pub const FINAL: &str = "a removal is final";
    pub const REMOVAL_ALONE: &str =
        "a removal is a change of its own (it removes, and does nothing else)";
    pub const LAST_ADMIN: &str = "the last admin cannot leave, be removed or lose admin rights (make another member an admin first)";
    pub const ADD_DEVICE: &str =
        "a device is added by an admin, or linked by another device of the same person";
    pub const DEVICE_ONCE: &str =
        "a device entry is written once (whose device it is never changes)";
    pub const REMOVE_DEVICE: &str =
        "a device is removed by a device of the same person, or an admin";
    pub const NEED_OWNER: &str = "a need is written and removed only by its owner's devices";
    pub const OWN_AGREEMENT: &str = "only a person's own devices agree (or stop agreeing) for them";
    pub const OWN_REFLECTION: &str = "only a person's own devices write their check-in reflection";
    pub const PER_PERSON: &str =
        "the agreements and reflections of an item are made with the item, never replaced";
    pub const KEEP_ITEMS: &str =
        "expectations and check-ins are retired or edited, never deleted or replaced";
    pub const ADD_KEEPER: &str = "only an admin adds a keeper, and a keeper belongs to no person";
    pub const KEEPER: &str =
        "a keeper authors nothing in the document (it holds and forwards what members sign)";
    pub const READER: &str = "a reader writes nothing";
    pub const READER_ONCE: &str =
        "whether a person is a reader is written with the person, never changed";
}

/// One step of a path in the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    /// A position in a list or text.
    Index,
}

type Path = Vec<Seg>;

/// Paths of objects already traced, kept across the changes of one batch.
#[derive(Default)]
pub struct Paths {
    known: HashMap<legacy::OpId, Path>,
}

/// One operation of a change, traced.
struct Write {
    target: Path,
    action: legacy::OpType,
    /// The object it writes in was made by this same change.
    in_new_object: bool,
    /// It supersedes values its author saw (Automerge's `pred`): the key held something as
    /// of the change's dependencies.
    overwrites: bool,
}

/// Where the document as of a change's dependencies is read from: a document that holds the
/// change's whole past (the replica, for a change that builds only on what it holds), or the
/// ledger of a batch that builds on itself (see [`ledger`](crate::core::trust::ledger)).
enum Src<'a> {
    Doc {
        doc: &'a Automerge,
        deps: &'a [ChangeHash],
    },
    Ledger(&'a Point<'a, 'a>),
}

/// The document as of a change's dependencies.
struct At<'a> {
    src: Src<'a>,
}

impl<'a> At<'a> {
    fn doc(doc: &'a Automerge, deps: &'a [ChangeHash]) -> At<'a> {
        At {
            src: Src::Doc { doc, deps },
        }
    }

    /// The winning value of `obj[key]`.
    fn get(&self, obj: &ObjId, key: &str) -> Option<(Val, ObjId)> {
        match &self.src {
            Src::Doc { doc, deps } => match doc.get_at(obj, key, deps) {
                Ok(Some((v, id))) => Some((Val::from_value(&v), id)),
                _ => None,
            },
            Src::Ledger(p) => p.get(obj, key),
        }
    }

    /// How many values `obj[key]` holds (more than one: a conflict).
    fn count(&self, obj: &ObjId, key: &str) -> usize {
        match &self.src {
            Src::Doc { doc, deps } => doc.get_all_at(obj, key, deps).map_or(0, |a| a.len()),
            Src::Ledger(p) => p.all(obj, key).len(),
        }
    }

    fn keys(&self, obj: &ObjId) -> Vec<String> {
        match &self.src {
            Src::Doc { doc, deps } => doc.keys_at(obj, deps).collect(),
            Src::Ledger(p) => p.keys(obj),
        }
    }

    fn map(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.get(obj, key) {
            Some((Val::Obj(ObjType::Map), id)) => Some(id),
            _ => None,
        }
    }

    fn has(&self, obj: &ObjId, key: &str) -> bool {
        self.get(obj, key).is_some()
    }

    fn str(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.get(obj, key) {
            Some((Val::Scalar(s), _)) => s.as_str().map(str::to_string),
            _ => None,
        }
    }

    /// A top-level collection. The genesis change makes them and no change may replace one
    /// (the rules), so the document as it is now names the same object as at any point:
    /// reading the present spares a historical read. (A ledger reads it as of the
    /// dependencies: the genesis change may be in the batch.)
    fn collection(&self, collection: &str) -> Option<ObjId> {
        match &self.src {
            Src::Doc { doc, .. } => crate::core::document::model::map_at(*doc, &ROOT, collection),
            Src::Ledger(_) => self.map(&ROOT, collection),
        }
    }

    /// Whether `collection` has anything at `key` (an entry of any type).
    fn holds(&self, collection: &str, key: &str) -> bool {
        self.collection(collection)
            .is_some_and(|c| self.has(&c, key))
    }

    /// Whether `collection[key]` holds several concurrent values.
    fn conflicted(&self, collection: &str, key: &str) -> bool {
        self.collection(collection)
            .is_some_and(|c| self.count(&c, key) > 1)
    }

    fn entry(&self, collection: &str, key: &str) -> Option<ObjId> {
        let c = self.collection(collection)?;
        self.map(&c, key)
    }

    /// Whether `w`, a write of `collection[key]`, makes a new entry: nothing was there as of
    /// the dependencies. An honest write that supersedes nothing (`pred` empty) of a key that
    /// holds one value now is one; otherwise the past is read. (A write that claims to
    /// supersede nothing while something was there would leave two values, a conflict, so it
    /// takes the historical read.)
    fn fresh(&self, w: &Write, collection: &str, key: &str) -> bool {
        if w.overwrites {
            return false;
        }
        let single_now = match &self.src {
            Src::Doc { doc, .. } => self
                .collection(collection)
                .and_then(|c| doc.get_all(&c, key).ok())
                .is_some_and(|all| all.len() == 1),
            Src::Ledger(_) => false,
        };
        single_now || !self.holds(collection, key)
    }

    /// `collection[key]` as of the dependencies: `None` when there is nothing there,
    /// `Some(None)` when there is something other than a map.
    fn slot(&self, collection: &str, key: &str) -> Option<Option<ObjId>> {
        let c = self.collection(collection)?;
        match self.get(&c, key) {
            None => None,
            Some((Val::Obj(ObjType::Map), obj)) => Some(Some(obj)),
            Some(_) => Some(None),
        }
    }

    /// The owner of need `n`. A need's owner never changes (the rules): the present says
    /// it, unless the need is gone now.
    fn need_owner(&self, n: &str) -> Option<String> {
        let now = match &self.src {
            Src::Doc { doc, .. } => self
                .collection(keys::NEEDS)
                .and_then(|c| crate::core::document::model::map_at(*doc, &c, n))
                .map(|o| crate::core::document::model::string_at(*doc, &o, "owner")),
            Src::Ledger(_) => None,
        };
        now.or_else(|| {
            self.entry(keys::NEEDS, n)
                .and_then(|o| self.str(&o, "owner"))
        })
    }

    /// The person the change's author acted for, when it is a member device.
    fn person(&self, author: &DeviceId) -> Option<ItemId> {
        match &self.src {
            Src::Doc { doc, deps } => member_at(doc, author, deps),
            Src::Ledger(_) => standing(self, author).writer().cloned(),
        }
    }
}

/// Who a change's author is, as of the change's dependencies: what the rules ask before
/// anything else. The one place that says which standing may write (see
/// [`Standing::writer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// A device of a person who is a member (both added, neither removed).
    MemberDevice(ItemId),
    /// A keeper: a device of no person that holds and forwards the alliance and authors
    /// nothing (removed or not).
    Keeper,
    /// A device that was removed, or whose person was.
    Removed,
    /// No device of the alliance.
    Unknown,
}

impl Standing {
    /// The person an author of this standing writes for, if it may write at all. Every rule
    /// of who may write what starts here: a standing that may author nothing answers `None`.
    pub fn writer(&self) -> Option<&ItemId> {
        match self {
            Standing::MemberDevice(person) => Some(person),
            Standing::Keeper | Standing::Removed | Standing::Unknown => None,
        }
    }

    /// Why a change by an author of this standing is refused, when it is refused: a keeper's
    /// breaks [`rule::KEEPER`]; others' are not a member's.
    pub fn refusal(&self, hash: &ChangeHash, author: &DeviceId) -> Option<Refusal> {
        match self {
            Standing::MemberDevice(_) => None,
            Standing::Keeper => Some(Refusal::Rule(by_keeper(hash, author))),
            Standing::Removed | Standing::Unknown => Some(Refusal::NotAMember),
        }
    }
}

/// Why a change's author may not write it at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The author is not a member device as of the change's dependencies.
    NotAMember,
    /// The author's standing breaks a rule (a keeper authors nothing).
    Rule(Broken),
}

/// The standing of `device` as of the point `at` reads.
fn standing(at: &At<'_>, device: &DeviceId) -> Standing {
    let key = device.to_hex();
    let Some(devices) = at.collection(keys::DEVICES) else {
        return Standing::Unknown;
    };
    let Some(entry) = at.map(&devices, &key) else {
        return Standing::Unknown;
    };
    if matches!(
        at.get(&entry, keys::KEEPER),
        Some((Val::Scalar(ScalarValue::Boolean(true)), _))
    ) {
        return Standing::Keeper;
    }
    if at.has(&entry, keys::REMOVED_AT) {
        return Standing::Removed;
    }
    let Some(member) = at.str(&entry, "member") else {
        return Standing::Unknown;
    };
    let Some(m) = at.entry(keys::MEMBERS, &member) else {
        return Standing::Unknown;
    };
    if at.has(&m, keys::REMOVED_AT) {
        return Standing::Removed;
    }
    Standing::MemberDevice(ItemId::from_doc_key(&member))
}

/// The standing of `device` as of a batch change's dependencies, read from the ledger.
pub fn standing_in(point: &Point<'_, '_>, device: &DeviceId) -> Standing {
    standing(
        &At {
            src: Src::Ledger(point),
        },
        device,
    )
}

/// Whether a change removes a person or a device (by the rules, such a change does nothing
/// else).
pub(crate) fn is_removal(change: &Change) -> bool {
    guarded(|| change.decode()).is_some_and(|c| {
        c.operations.iter().any(|op| {
            matches!(&op.key, legacy::Key::Map(k) if k.as_str() == keys::REMOVED_AT)
                && matches!(op.action, legacy::OpType::Put(_))
        })
    })
}

/// The person each change's author acted for as of the change's dependencies, found once per
/// change for both the membership check and the rules (see [`people_of`]).
pub type People = HashMap<ChangeHash, ItemId>;

/// The person device `key` acts for, read from the document as it is now, when that answers
/// for every point of the history where the device's entry exists: the entry is there once
/// (not claimed twice at once) and neither the device nor its person is removed. A device
/// entry is written once (its `member` never changes) and never deleted, and a removal is set
/// once and never undone (the rules), so then only "was the entry there yet" depends on the
/// point in the history.
fn person_now(doc: &Automerge, devices: &ObjId, key: &str) -> Option<String> {
    let entry = match doc.get_all(devices, key) {
        Ok(all) if all.len() == 1 => match &all[0] {
            (Value::Object(ObjType::Map), obj) => obj.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let member = crate::core::document::model::string_at(doc, &entry, "member");
    (!member.is_empty() && !removed_now(doc, key, &member)).then_some(member)
}

/// A check that could not finish (its time ran out, or Automerge panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfinished;

/// The person of each claim's author as of its dependencies (`None`: not a member device
/// then), for claims (hash, dependencies, author) in causal order. `full(i)` is the full
/// check of claim `i` ([`member_at`], or the genesis rule); [`Unfinished`] stops it.
///
/// Most claims need no read of the past: once a change by a device was a member's as of its
/// dependencies, a later change by the same device that has it in its past is too, when the
/// document as it is now answers for the device (see `person_now`): the entry was there for
/// the first, so it is there for the second. Ancestry is followed through the claims
/// themselves (a bit per device, for up to 64 devices; the others are checked in full), and
/// only a change that passed passes its bit on. So a batch or a whole history pays one read of
/// the past per device and branch, not one per change.
pub fn people_of(
    doc: &Automerge,
    claims: &[crate::core::trust::signed::Claim<'_>],
    mut full: impl FnMut(usize) -> Result<Option<ItemId>, Unfinished>,
) -> Result<Vec<Option<ItemId>>, Unfinished> {
    let devices = crate::core::document::model::map_at(doc, &ROOT, keys::DEVICES);
    let mut bits: HashMap<DeviceId, u64> = HashMap::new();
    let mut now: HashMap<DeviceId, Option<ItemId>> = HashMap::new();
    let mut passed: HashMap<ChangeHash, u64> = HashMap::with_capacity(claims.len());
    let mut out = Vec::with_capacity(claims.len());
    for (i, (hash, deps, author)) in claims.iter().enumerate() {
        let next = bits.len();
        let bit = match bits.get(author) {
            Some(b) => *b,
            None if next < 64 => *bits.entry(*author).or_insert(1 << next),
            None => 0,
        };
        let inherited = deps
            .iter()
            .filter_map(|d| passed.get(d))
            .fold(0, |a, m| a | m);
        let settled = if bit != 0 && inherited & bit != 0 {
            now.entry(*author)
                .or_insert_with(|| {
                    let devices = devices.as_ref()?;
                    person_now(doc, devices, &author.to_hex()).map(|m| ItemId::from_doc_key(&m))
                })
                .clone()
        } else {
            None
        };
        let person = match settled {
            Some(p) => Some(p),
            None => full(i)?,
        };
        passed.insert(*hash, inherited | if person.is_some() { bit } else { 0 });
        out.push(person);
    }
    Ok(out)
}

/// The member a device acts for as of `deps`, if the device and the member are both current
/// (added and not removed).
pub fn member_at(doc: &Automerge, device: &DeviceId, deps: &[ChangeHash]) -> Option<ItemId> {
    if deps.is_empty() {
        return None;
    }
    let at = At::doc(doc, deps);
    let key = device.to_hex();
    let devices = at.collection(keys::DEVICES)?;
    // When the present answers (see `person_now`), one historical read: whether the entry was
    // there yet. When the entry is in conflict (two admins added the key at once) or a removal
    // is recorded now, every part is read as of `deps`.
    if let Some(member) = person_now(doc, &devices, &key) {
        return at
            .has(&devices, &key)
            .then(|| ItemId::from_doc_key(&member));
    }
    standing(&at, device).writer().cloned()
}

/// Whether `device` was a keeper of the alliance as of `deps` (its entry says `keeper`, removed
/// or not): a change it signed breaks [`rule::KEEPER`], whatever it writes.
pub fn keeper_at(doc: &Automerge, device: &DeviceId, deps: &[ChangeHash]) -> bool {
    matches!(standing(&At::doc(doc, deps), device), Standing::Keeper)
}

/// The refusal of a change signed by a keeper (see [`keeper_at`]).
pub fn by_keeper(hash: &ChangeHash, author: &DeviceId) -> Broken {
    broken_by(
        hash,
        author,
        rule::KEEPER,
        "its author is a keeper of this alliance".into(),
    )
}

/// Whether the document as it is now records the removal of `device` or of its person: a read
/// of the present only (no point of the history), cheap enough for a session to ask before
/// every event. A removal is never undone, so once true it stays true.
pub fn removed_now_of(doc: &Automerge, device: &DeviceId) -> bool {
    let key = device.to_hex();
    let Some(devices) = crate::core::document::model::map_at(doc, &ROOT, keys::DEVICES) else {
        return false;
    };
    // Every value of the entry: two admins may have added the key at once.
    doc.get_all(&devices, key.as_str())
        .unwrap_or_default()
        .iter()
        .any(|(value, entry)| {
            matches!(value, Value::Object(ObjType::Map)) && {
                let member = crate::core::document::model::string_at(doc, entry, "member");
                removed_now(doc, &key, &member)
            }
        })
}

/// Whether the document as it is now records a removal of the device `key` or of `member`.
fn removed_now(doc: &Automerge, key: &str, member: &str) -> bool {
    let now = |collection: &str, k: &str| {
        crate::core::document::model::map_at(doc, &ROOT, collection)
            .and_then(|c| crate::core::document::model::map_at(doc, &c, k))
            .is_some_and(|obj| matches!(doc.get(&obj, keys::REMOVED_AT), Ok(Some(_))))
    };
    now(keys::DEVICES, key) || now(keys::MEMBERS, member)
}

/// The admins as of `deps`: the current members whose `admin` is true; when there are none
/// (an alliance made before admins existed, or concurrent changes that left none), the
/// longest-standing current member (earliest `added_at`, then lowest ID). Every device
/// computes the same set from the same history.
fn admins(at: &At<'_>) -> (HashSet<String>, Vec<(i64, String)>) {
    let mut explicit = HashSet::new();
    let mut current = Vec::new();
    let Some(members) = at.collection(keys::MEMBERS) else {
        return (explicit, current);
    };
    for key in at.keys(&members) {
        let Some(obj) = at.map(&members, &key) else {
            continue;
        };
        // Readers write nothing, so they are never admins.
        let reader = matches!(
            at.get(&obj, keys::READER),
            Some((Val::Scalar(ScalarValue::Boolean(true)), _))
        );
        if at.has(&obj, keys::REMOVED_AT) || reader {
            continue;
        }
        let added = match at.get(&obj, "added_at") {
            Some((Val::Scalar(s), _)) => s.as_i64().unwrap_or(0),
            _ => 0,
        };
        let admin = matches!(
            at.get(&obj, keys::ADMIN),
            Some((Val::Scalar(ScalarValue::Boolean(true)), _))
        );
        if admin {
            explicit.insert(key.clone());
        }
        current.push((added, key));
    }
    current.sort();
    (explicit, current)
}

/// Whether the member whose entry is `obj` is a reader. `members[m].reader` is written with the
/// entry and never changed (the rules), so the document as it is now answers for every point
/// of the history where the entry exists.
fn is_reader_obj(doc: &Automerge, obj: &ObjId) -> bool {
    matches!(
        doc.get(obj, keys::READER),
        Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true))
    )
}

/// Whether the alliance has any reader now (cheap: the present only). When it has none, none
/// of its members was one at any point either (see [`is_reader_obj`]).
fn has_readers(doc: &Automerge) -> bool {
    let Some(members) = crate::core::document::model::map_at(doc, &ROOT, keys::MEMBERS) else {
        return false;
    };
    doc.map_range(&members, ..).any(|item| {
        matches!(item.value, automerge::ValueRef::Object(ObjType::Map))
            && is_reader_obj(doc, &item.id())
    })
}

fn is_admin(at: &At<'_>, member: &ItemId) -> bool {
    let (explicit, current) = admins(at);
    if explicit.is_empty() {
        current.first().is_some_and(|(_, m)| m == member.as_str())
    } else {
        explicit.contains(member.as_str())
    }
}

/// Traces the object `id` to its path, from this change's own new objects, what the batch
/// traced before, or the document.
fn path_of(
    doc: &Automerge,
    id: &legacy::OpId,
    made: &HashMap<legacy::OpId, Path>,
    paths: &mut Paths,
) -> Option<Path> {
    if let Some(p) = made.get(id).or_else(|| paths.known.get(id)) {
        return Some(p.clone());
    }
    let text = format!("{}@{}", id.0, id.1.to_hex_string());
    let path = guarded(|| {
        let obj = doc.import_obj(&text).ok()?;
        let parents = doc.parents(&obj).ok()?;
        Some(
            parents
                .path()
                .into_iter()
                .map(|(_, prop)| match prop {
                    Prop::Map(k) => Seg::Key(k),
                    Prop::Seq(_) => Seg::Index,
                })
                .collect::<Path>(),
        )
    })??;
    paths.known.insert(id.clone(), path.clone());
    Some(path)
}

fn key(s: &Seg) -> Option<&str> {
    match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index => None,
    }
}

/// Checks one change against the rules. `doc` holds the change's whole past (it may hold more:
/// every read is as of the change's dependencies). `expanded` is the change decoded (the
/// caller guards the decoding against panics). `author` is the change's verified author
/// device; the genesis change is not checked (it makes the alliance). Returns whether it
/// removes a person or a device.
pub fn check(
    doc: &Automerge,
    change: &Change,
    expanded: automerge::ExpandedChange,
    author: &DeviceId,
    paths: &mut Paths,
) -> Result<bool, Broken> {
    let traced = trace(doc, change, expanded, author, paths)?;
    judge(doc, &traced, None)
}

/// A change's operations traced to their paths ([`trace`]), ready to be judged ([`judge`]).
pub struct Traced {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    author: DeviceId,
    writes: Vec<Write>,
    /// The writes a batch's ledger records (see [`Traced::noted`]).
    noted: Vec<Noted>,
    /// The objects it made.
    made: Vec<ObjId>,
}

impl Traced {
    pub fn hash(&self) -> &ChangeHash {
        &self.hash
    }

    /// The objects the change made.
    pub fn made(&self) -> &[ObjId] {
        &self.made
    }

    /// The writes of the parts the rules read (the top level, and paths of at most three
    /// steps under people, devices, needs, expectations and check-ins), for a batch's
    /// ledger; taken once.
    pub fn take_noted(&mut self) -> Vec<Noted> {
        std::mem::take(&mut self.noted)
    }
}

/// Whether the rules read what a write at `target` writes (see [`Traced::take_noted`]).
fn noted_path(target: &Path) -> bool {
    target.len() <= 3
        && matches!(target.last(), Some(Seg::Key(_)))
        && !matches!(target.first(), Some(Seg::Key(k)) if k == keys::VISION || k == keys::PLAN)
}

fn broken_by(hash: &ChangeHash, author: &DeviceId, rule: &'static str, what: String) -> Broken {
    Broken {
        hash: hash.to_string(),
        author: author.short(),
        rule,
        what,
    }
}

/// Traces a change's operations to their paths in the document. Changes must be traced in
/// causal order, with one `paths` for a batch: each object a change makes is remembered for
/// the changes after it. (Cheap; the reads of the past are in [`judge`].)
pub fn trace(
    doc: &Automerge,
    change: &Change,
    expanded: automerge::ExpandedChange,
    author: &DeviceId,
    paths: &mut Paths,
) -> Result<Traced, Broken> {
    let hash = change.hash();
    let broken = |rule: &'static str, what: String| broken_by(&hash, author, rule, what);
    // Trace every operation to its path.
    let start = change.start_op().get();
    let mut made: HashMap<legacy::OpId, Path> = HashMap::new();
    let mut writes = Vec::with_capacity(expanded.operations.len());
    let mut noted = Vec::new();
    let mut made_objs = Vec::new();
    for (i, op) in expanded.operations.into_iter().enumerate() {
        let (mut target, in_new_object) = match &op.obj {
            legacy::ObjectId::Root => (Path::new(), false),
            legacy::ObjectId::Id(id) => {
                let new = made.contains_key(id);
                let Some(p) = path_of(doc, id, &made, paths) else {
                    return Err(broken(
                        rule::TOP,
                        format!(
                            "it writes to object {}, which the alliance does not hold",
                            id.0
                        ),
                    ));
                };
                (p, new)
            }
        };
        target.push(match &op.key {
            legacy::Key::Map(k) => Seg::Key(k.to_string()),
            legacy::Key::Seq(_) => Seg::Index,
        });
        let op_id = legacy::OpId(start + i as u64, change.actor_id().clone());
        if let legacy::OpType::Make(_) = op.action {
            // Changes are checked in causal order, so an object is made before anything
            // refers to it: remembering each one spares reading the document's structure.
            paths.known.insert(op_id.clone(), target.clone());
            made.insert(op_id.clone(), target.clone());
            made_objs.push(new_obj(op_id.0, &op_id.1));
        }
        if let (true, legacy::Key::Map(k)) = (noted_path(&target), &op.key) {
            let value = match &op.action {
                legacy::OpType::Put(v) => Some(Some(Val::Scalar(v.clone()))),
                legacy::OpType::Make(t) => Some(Some(Val::Obj(*t))),
                legacy::OpType::Delete => Some(None),
                _ => None,
            };
            if let Some(value) = value {
                noted.push(Noted {
                    obj: match &op.obj {
                        legacy::ObjectId::Root => ObjId::Root,
                        legacy::ObjectId::Id(id) => new_obj(id.0, &id.1),
                    },
                    key: k.to_string(),
                    id: (op_id.0, op_id.1.clone()),
                    pred: op.pred.iter().map(|p| (p.0, p.1.clone())).collect(),
                    value,
                    membership: matches!(
                        target.as_slice(),
                        [Seg::Key(c), ..] if c == keys::DEVICES
                    ) || matches!(
                        target.as_slice(),
                        [Seg::Key(c), _] if c == keys::MEMBERS
                    ) || matches!(
                        target.as_slice(),
                        [Seg::Key(c), _, Seg::Key(f)]
                            if c == keys::MEMBERS && (f == keys::REMOVED_AT || f == keys::REMOVED_BY)
                    ),
                });
            }
        }
        writes.push(Write {
            target,
            overwrites: !op.pred.is_empty(),
            action: op.action,
            in_new_object,
        });
    }
    Ok(Traced {
        hash,
        deps: change.deps().to_vec(),
        author: *author,
        writes,
        noted,
        made: made_objs,
    })
}

/// Judges a traced change by the rules, reading `doc` as of the change's dependencies.
/// `person` is the author's person as of them when the membership check found it already
/// (see [`people_of`]); otherwise it is looked up when a rule needs it. Returns whether it
/// removes a person or a device. Independent of every other change's
/// judgement, so a batch is judged on every core.
// Each arm of the match states one rule for one shape of path; folding its test into a guard
// would let a case that fails the test fall through to the arms below.
#[allow(clippy::collapsible_match)]
pub fn judge(doc: &Automerge, traced: &Traced, person: Option<&ItemId>) -> Result<bool, Broken> {
    judge_at(&At::doc(doc, &traced.deps), traced, person)
}

/// [`judge`] for a change of a batch that builds on itself, reading the document as of its
/// dependencies from the batch's ledger (see [`ledger`](crate::core::trust::ledger)).
pub fn judge_in(point: &Point<'_, '_>, traced: &Traced, person: &ItemId) -> Result<bool, Broken> {
    judge_at(
        &At {
            src: Src::Ledger(point),
        },
        traced,
        Some(person),
    )
}

#[allow(clippy::collapsible_match)]
fn judge_at(at: &At<'_>, traced: &Traced, person: Option<&ItemId>) -> Result<bool, Broken> {
    let Traced {
        hash,
        author,
        writes,
        ..
    } = traced;
    let broken = |rule: &'static str, what: String| broken_by(hash, author, rule, what);
    // A reader writes nothing, whatever the path. Read only when the alliance has readers;
    // the author's person is as of the dependencies, their standing is never changed.
    let maybe_readers = match &at.src {
        Src::Doc { doc, .. } => has_readers(doc),
        Src::Ledger(_) => true,
    };
    if maybe_readers
        && let Some(me) = person
            .cloned()
            .or_else(|| standing(at, author).writer().cloned())
        && at.entry(keys::MEMBERS, me.as_str()).is_some_and(|obj| {
            matches!(
                at.get(&obj, keys::READER),
                Some((Val::Scalar(ScalarValue::Boolean(true)), _))
            )
        })
    {
        let first = writes.first().map(|w| {
            let p: Vec<&str> = w.target.iter().map(|s| key(s).unwrap_or("#")).collect();
            p.join("/")
        });
        return Err(broken(
            rule::READER,
            format!(
                "its author is a reader, and it writes {}",
                first.unwrap_or_else(|| "nothing".into())
            ),
        ));
    }
    let mut removes = false;
    // Most changes (typing in the vision, rewording an expectation, planning) write only what
    // any member may: no need to read who the author is.
    let anyone = writes.iter().all(|w| {
        let t: Vec<Option<&str>> = w.target.iter().map(key).collect();
        match t.as_slice() {
            [Some(keys::TITLE)] => true,
            [Some(keys::VISION | keys::PLAN), _, ..] => true,
            [
                Some(keys::EXPECTATIONS | keys::CHECKINS),
                Some(_),
                Some(f),
                ..,
            ] => *f != keys::AGREEMENTS && *f != keys::REFLECTIONS,
            _ => false,
        }
    });
    if anyone {
        return Ok(false);
    }
    // Who the author is matters only for people, devices, needs and per-person parts.
    let needs_me = writes.iter().any(|w| {
        let t: Vec<Option<&str>> = w.target.iter().map(key).collect();
        matches!(
            t.as_slice(),
            [Some(keys::MEMBERS | keys::DEVICES | keys::NEEDS), ..]
                | [
                    Some(keys::EXPECTATIONS),
                    _,
                    Some(keys::AGREEMENTS),
                    Some(_),
                    ..
                ]
                | [
                    Some(keys::CHECKINS),
                    _,
                    Some(keys::REFLECTIONS),
                    Some(_),
                    ..
                ]
        )
    });
    let me = if needs_me {
        match person.cloned().or_else(|| at.person(author)) {
            Some(me) => me,
            // The membership check reports this one; nothing to judge here.
            None => return Ok(false),
        }
    } else {
        ItemId::from_doc_key("")
    };
    // Scalar values this change puts, by path (a new person's or device's fields).
    let put = |path: &[&str]| -> Option<String> {
        writes.iter().find_map(|w| {
            let same = w.target.len() == path.len()
                && w.target.iter().zip(path).all(|(s, p)| key(s) == Some(*p));
            match (&w.action, same) {
                (legacy::OpType::Put(ScalarValue::Str(s)), true) => Some(s.to_string()),
                _ => None,
            }
        })
    };
    let mut admin: Option<bool> = None;
    let mut admin_now = |at: &At<'_>| *admin.get_or_insert_with(|| is_admin(at, &me));
    let mut made_items: HashSet<(&str, &str)> = HashSet::new();
    let mut removal_writes = 0;
    let mut demoted: HashSet<String> = HashSet::new();
    let mut promoted: HashSet<String> = HashSet::new();
    // One judgement per (path, kind of operation): a splice of many characters is judged once.
    let mut judged: HashSet<(&Path, std::mem::Discriminant<legacy::OpType>, bool)> = HashSet::new();
    for w in writes {
        if !judged.insert((
            &w.target,
            std::mem::discriminant(&w.action),
            w.in_new_object,
        )) && !matches!(w.action, legacy::OpType::Put(_))
        {
            continue;
        }
        let t: Vec<Option<&str>> = w.target.iter().map(key).collect();
        let is_make = matches!(w.action, legacy::OpType::Make(ObjType::Map));
        if let ([Some(c), Some(x)], true) = (t.as_slice(), is_make) {
            made_items.insert((c, x));
        }
        let what = || {
            let p: Vec<&str> = w.target.iter().map(|s| key(s).unwrap_or("#")).collect();
            format!("it writes {}", p.join("/"))
        };
        match t.as_slice() {
            // Per-person parts, whoever made the item.
            [
                Some(keys::EXPECTATIONS),
                Some(_),
                Some(keys::AGREEMENTS),
                Some(m),
                ..,
            ] => {
                if *m != me.as_str() {
                    return Err(broken(rule::OWN_AGREEMENT, what()));
                }
            }
            [
                Some(keys::CHECKINS),
                Some(_),
                Some(keys::REFLECTIONS),
                Some(m),
                ..,
            ] => {
                if *m != me.as_str() {
                    return Err(broken(rule::OWN_REFLECTION, what()));
                }
            }
            [
                Some(keys::EXPECTATIONS | keys::CHECKINS),
                Some(_),
                Some(keys::AGREEMENTS | keys::REFLECTIONS),
            ]
            | [
                Some(keys::EXPECTATIONS | keys::CHECKINS),
                Some(_),
                Some(keys::AGREEMENTS | keys::REFLECTIONS),
                None,
                ..,
            ] => {
                let replaces = || {
                    at.entry(t[0].unwrap_or(""), t[1].unwrap_or(""))
                        .is_some_and(|item| at.has(&item, t[2].unwrap_or("")))
                };
                if !w.in_new_object && replaces() {
                    return Err(broken(rule::PER_PERSON, what()));
                }
            }
            [Some(k)] => {
                if *k != keys::TITLE {
                    return Err(broken(rule::TOP, what()));
                }
            }
            [None] => return Err(broken(rule::TOP, what())),
            // People.
            [Some(keys::MEMBERS), Some(m)] => {
                if !is_make || !at.fresh(w, keys::MEMBERS, m) {
                    return Err(broken(rule::KEEP_PEOPLE, what()));
                }
                if !admin_now(at) {
                    return Err(broken(rule::ADD_PERSON, what()));
                }
            }
            // The fields of a person, device or need made by this same change: judged with
            // the entry that makes them (above).
            [
                Some(keys::MEMBERS | keys::DEVICES | keys::NEEDS),
                Some(x),
                _,
                ..,
            ] if made_items.contains(&(t[0].unwrap_or(""), *x)) => {}
            [Some(keys::MEMBERS), Some(m), Some(field), ..] => {
                let Some(obj) = at.entry(keys::MEMBERS, m) else {
                    return Err(broken(rule::KEEP_PEOPLE, what()));
                };
                match *field {
                    keys::READER => return Err(broken(rule::READER_ONCE, what())),
                    "name" => {
                        if *m != me.as_str() && !admin_now(at) {
                            return Err(broken(rule::NAME, what()));
                        }
                    }
                    keys::REMOVED_AT | keys::REMOVED_BY => {
                        if at.has(&obj, keys::REMOVED_AT) {
                            return Err(broken(rule::FINAL, what()));
                        }
                        if *m != me.as_str() && !admin_now(at) {
                            return Err(broken(rule::REMOVE_PERSON, what()));
                        }
                        demoted.insert(m.to_string());
                        removes = true;
                        removal_writes += 1;
                    }
                    _ => {
                        if !admin_now(at) {
                            return Err(broken(rule::ROLE, what()));
                        }
                        if *field == keys::ADMIN {
                            match &w.action {
                                legacy::OpType::Put(ScalarValue::Boolean(true)) => {
                                    promoted.insert(m.to_string());
                                }
                                _ => {
                                    demoted.insert(m.to_string());
                                }
                            }
                        }
                    }
                }
            }
            // Devices.
            // Two admins who added one key for two people at once: an admin settles whose
            // it is (`alliance resolve`), writing the entry again.
            [Some(keys::DEVICES), Some(k), ..]
                if t.len() <= 3 && at.conflicted(keys::DEVICES, k) && admin_now(at) => {}
            [Some(keys::DEVICES), Some(k)] => {
                if !is_make || !at.fresh(w, keys::DEVICES, k) {
                    return Err(broken(rule::DEVICE_ONCE, what()));
                }
                let keeper = writes.iter().any(|w| {
                    w.target.len() == 3
                        && key(&w.target[1]) == Some(*k)
                        && key(&w.target[2]) == Some(keys::KEEPER)
                });
                if keeper {
                    let personless = put(&[keys::DEVICES, k, "member"]).is_none();
                    if !personless || !admin_now(at) {
                        return Err(broken(rule::ADD_KEEPER, what()));
                    }
                    continue;
                }
                let for_me = put(&[keys::DEVICES, k, "member"]).as_deref() == Some(me.as_str());
                if !for_me && !admin_now(at) {
                    return Err(broken(rule::ADD_DEVICE, what()));
                }
            }
            [
                Some(keys::DEVICES),
                Some(k),
                Some(keys::REMOVED_AT | keys::REMOVED_BY),
            ] => {
                let Some(obj) = at.entry(keys::DEVICES, k) else {
                    return Err(broken(rule::DEVICE_ONCE, what()));
                };
                if at.has(&obj, keys::REMOVED_AT) {
                    return Err(broken(rule::FINAL, what()));
                }
                let whose = at.str(&obj, "member");
                if whose.as_deref() != Some(me.as_str()) && !admin_now(at) {
                    return Err(broken(rule::REMOVE_DEVICE, what()));
                }
                removes = true;
                removal_writes += 1;
            }
            [Some(keys::DEVICES), ..] => return Err(broken(rule::DEVICE_ONCE, what())),
            // Needs.
            [Some(keys::NEEDS), Some(n)] if is_make => {
                let owner = put(&[keys::NEEDS, n, "owner"]);
                if !at.fresh(w, keys::NEEDS, n) || owner.as_deref() != Some(me.as_str()) {
                    return Err(broken(rule::NEED_OWNER, what()));
                }
            }
            [Some(keys::NEEDS), Some(n)] => match at.slot(keys::NEEDS, n) {
                Some(Some(obj)) if matches!(w.action, legacy::OpType::Delete) => {
                    if at.str(&obj, "owner").as_deref() != Some(me.as_str()) {
                        return Err(broken(rule::NEED_OWNER, what()));
                    }
                }
                _ => return Err(broken(rule::NEED_OWNER, what())),
            },
            [Some(keys::NEEDS), Some(n), field, ..] => {
                let owner = at.need_owner(n);
                if owner.as_deref() != Some(me.as_str()) || *field == Some("owner") {
                    return Err(broken(rule::NEED_OWNER, what()));
                }
            }
            // Items whose entries hold other people's parts.
            [Some(c @ (keys::EXPECTATIONS | keys::CHECKINS)), Some(x)] => {
                if !is_make || !at.fresh(w, c, x) {
                    return Err(broken(rule::KEEP_ITEMS, what()));
                }
            }
            // Everything else: any member.
            _ => {}
        }
    }
    if removal_writes > 0 && removal_writes < writes.len() {
        return Err(broken(
            rule::REMOVAL_ALONE,
            "it removes someone and writes other things too".to_string(),
        ));
    }
    if !demoted.is_empty() {
        let (explicit, current) = admins(at);
        let before: HashSet<String> = if explicit.is_empty() {
            current
                .first()
                .map(|(_, m)| m.clone())
                .into_iter()
                .collect()
        } else {
            explicit
        };
        let loses_one = before.iter().any(|m| demoted.contains(m));
        let after = before
            .iter()
            .chain(&promoted)
            .filter(|m| !demoted.contains(*m))
            .count();
        if loses_one && after == 0 {
            return Err(broken(
                rule::LAST_ADMIN,
                "it would leave no admin".to_string(),
            ));
        }
    }
    Ok(removes)
}
