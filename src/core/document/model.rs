//! The alliance document: its schema (see `docs/schema.md`) and a typed, read-only view of it.
//!
//! Reading is lenient on purpose: a document is data written by several devices, possibly by a
//! newer or buggy version. A field with an unexpected type reads as missing instead of making the
//! whole alliance unreadable; a missing item field shows as empty.

use automerge::transaction::{Transactable, Transaction};
use automerge::{AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::core::ids::{ItemId, Timestamp};

/// Document keys, in one place.
pub mod keys {
    pub const SCHEMA: &str = "schema";
    pub const TITLE: &str = "title";
    pub const CREATED_AT: &str = "created_at";
    pub const DEVICES: &str = "devices";
    pub const MEMBERS: &str = "members";
    pub const NEEDS: &str = "needs";
    pub const PLAN: &str = "plan";
    pub const VISION: &str = "vision";
    pub const EXPECTATIONS: &str = "expectations";
    pub const CHECKINS: &str = "checkins";
    /// `members[m].admin`: whether the member may add, remove and promote people.
    pub const ADMIN: &str = "admin";
    /// `members[m].removed_at`, `devices[k].removed_at`: when the person or device was removed
    /// (or left). Written once; a removal is never undone.
    pub const REMOVED_AT: &str = "removed_at";
    /// `members[m].removed_by`, `devices[k].removed_by`: the member who removed them.
    pub const REMOVED_BY: &str = "removed_by";
    /// `members[m].reader`: a reader syncs and sees everything and writes nothing (see
    /// docs/schema.md). Written only with the member's entry; never changed.
    pub const READER: &str = "reader";
    /// `ROOT.start`: the starting point the founder chose (`family`, `coaching`, `team`),
    /// which sets the prompts every device shows (`core::seed`). Written by the genesis
    /// change only; absent in alliances made before it existed (read as `family`).
    pub const START: &str = "start";
    pub const AGREEMENTS: &str = "agreements";
    pub const REFLECTIONS: &str = "reflections";
    /// `devices[k].keeper`: true for a keeper, an always-on device of no person that holds and
    /// forwards what members sign and authors nothing (docs/schema.md).
    pub const KEEPER: &str = "keeper";
    /// `devices[k].name`: what people call a device ("the family's NAS").
    pub const NAME: &str = "name";
    /// `devices[k].addrs`: a keeper's addresses when it was added (hints).
    pub const ADDRS: &str = "addrs";
}

/// Who removed a person or a device, and when. A person who left removed themselves.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Removal {
    pub by: ItemId,
    pub at: Timestamp,
}

/// A person in the alliance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    pub id: ItemId,
    pub name: String,
    pub role: String,
    /// Whether this person may add, remove and promote people (see docs/schema.md).
    pub admin: bool,
    /// Whether this person is a reader: they sync and see everything and write nothing.
    pub reader: bool,
    /// Device keys (hex) that act for this person now (removed devices are not listed).
    pub devices: Vec<String>,
    /// The member who added this one (`None` for the founder).
    pub added_by: Option<ItemId>,
    pub added_at: Timestamp,
    /// Set when the person left or was removed.
    pub removed: Option<Removal>,
}

/// A device registered in the alliance: whose it is, who added it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceEntry {
    pub key: String,
    /// Whose device it is (empty for a keeper, which belongs to no person).
    pub member: ItemId,
    /// A keeper: an always-on device that holds and forwards the alliance, and writes nothing.
    pub keeper: bool,
    /// What people call it, when it was given a name.
    pub name: String,
    /// For a keeper: the addresses its ticket gave when it was added (hints for dialling it;
    /// the address book has newer ones).
    pub addrs: Vec<String>,
    pub added_by: String,
    pub added_at: Timestamp,
    /// Set when the device was removed (a lost phone), or its person was.
    pub removed: Option<Removal>,
}

/// Step 1: what a person needs, in their own words.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Need {
    pub id: ItemId,
    pub owner: ItemId,
    pub text: String,
    pub created_at: Timestamp,
}

/// Step 2: a session to sit down and design the alliance together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanSession {
    pub id: ItemId,
    pub when: String,
    /// Where or how: "date night at home", "video call".
    pub how: String,
    pub agenda: String,
    pub attendees: Vec<ItemId>,
    pub created_by: ItemId,
    pub created_at: Timestamp,
}

/// Where an expectation stands. `Agreed` is derived: every member agrees to the current text.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExpectationStatus {
    Proposed,
    Agreed,
    Retired,
}

impl AllianceView {
    /// The expectations in force that are of everyone (no `of` list): a person who joins is
    /// asked to agree to each of them, and until they do it counts as proposed again.
    pub fn of_everyone(&self) -> Vec<&Expectation> {
        self.expectations
            .iter()
            .filter(|e| e.of.is_empty() && e.status != ExpectationStatus::Retired)
            .collect()
    }
}

impl ExpectationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectationStatus::Proposed => "proposed",
            ExpectationStatus::Agreed => "agreed",
            ExpectationStatus::Retired => "retired",
        }
    }
}

/// One member's agreement to an expectation, tied to the text they agreed to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Agreement {
    pub member: ItemId,
    /// Digest of the text agreed to (see [`text_digest`]).
    pub text_digest: String,
    pub at: Timestamp,
    /// Whether the agreement is to the current text (false: the text changed since).
    pub current: bool,
}

/// Step 3: a concrete expectation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expectation {
    pub id: ItemId,
    pub text: String,
    /// Whose expectation it is.
    pub holder: ItemId,
    /// Of whom it is expected (empty: everyone).
    pub of: Vec<ItemId>,
    pub status: ExpectationStatus,
    pub agreements: Vec<Agreement>,
    pub text_digest: String,
    pub created_at: Timestamp,
}

/// One person's reflection in a check-in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reflection {
    pub member: ItemId,
    pub text: String,
    /// 1 to 5: how well the alliance is working for this person.
    pub rating: u8,
    pub at: Timestamp,
}

/// Step 4: a check-in to recalibrate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckIn {
    pub id: ItemId,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub reflections: Vec<Reflection>,
    pub proposed_changes: Vec<String>,
    /// Days until the next check-in.
    pub next_in_days: u32,
    pub created_by: ItemId,
    pub created_at: Timestamp,
}

/// The whole alliance as read at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AllianceView {
    pub id: String,
    pub title: String,
    pub created_at: Timestamp,
    /// The starting point the founder chose (`ROOT.start`: `family`, `coaching`, `team`; empty
    /// in alliances made before it existed). `core::seed::Start::of` reads it.
    pub start: String,
    /// The people in the alliance now.
    pub members: Vec<Member>,
    /// The people who left or were removed: their past changes keep their names.
    pub former: Vec<Member>,
    /// Every device ever added, removed ones included (with `removed` set).
    pub devices: Vec<DeviceEntry>,
    pub needs: Vec<Need>,
    pub plan: Vec<PlanSession>,
    pub vision: String,
    pub expectations: Vec<Expectation>,
    pub checkins: Vec<CheckIn>,
}

impl AllianceView {
    /// A person, current or former (see [`AllianceView::current`]).
    pub fn member(&self, id: &ItemId) -> Option<&Member> {
        self.members
            .iter()
            .chain(&self.former)
            .find(|m| &m.id == id)
    }

    /// The current members who may add, remove and promote people.
    pub fn admins(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.admin)
    }

    /// The current members who write (everyone but readers): whose agreement, needs and
    /// reflections the steps ask for.
    pub fn writers(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| !m.reader)
    }

    /// A person who is in the alliance now.
    pub fn current(&self, id: &ItemId) -> Option<&Member> {
        self.members.iter().find(|m| &m.id == id)
    }

    /// The device entry of a key, removed or not.
    pub fn device(&self, key_hex: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.key == key_hex)
    }

    /// A member's display name, or the ID itself if the member is unknown.
    pub fn name_of(&self, id: &ItemId) -> String {
        self.member(id)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// The member a device key belongs to.
    pub fn member_of_device(&self, key_hex: &str) -> Option<&Member> {
        let d = self.devices.iter().find(|d| d.key == key_hex)?;
        self.member(&d.member)
    }

    pub fn expectation(&self, id: &ItemId) -> Option<&Expectation> {
        self.expectations.iter().find(|e| &e.id == id)
    }
}

/// Digest of a text version: the first 16 hex characters of its SHA-256. An agreement records
/// the digest of the text it agreed to; when the text changes, the agreement no longer matches.
pub fn text_digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

// ---------------------------------------------------------------------------------------------
// Lenient readers.

/// Reads the object at `key` of `obj`, if it is a map.
pub(crate) fn map_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// Reads the object at `key` of `obj`, if it is a text object.
pub(crate) fn text_obj_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Text), id))) => Some(id),
        _ => None,
    }
}

/// A string field: a scalar string or a text object.
pub(crate) fn string_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> String {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            _ => String::new(),
        },
        Ok(Some((Value::Object(ObjType::Text), id))) => doc.text(&id).unwrap_or_default(),
        _ => String::new(),
    }
}

pub(crate) fn int_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            ScalarValue::Timestamp(t) => Some(*t),
            _ => None,
        },
        _ => None,
    }
}

fn id_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> ItemId {
    ItemId::from_doc_key(&string_at(doc, obj, key))
}

fn ts_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Timestamp {
    Timestamp(int_at(doc, obj, key).unwrap_or(0))
}

/// A list of strings (scalar strings or texts) at `key`.
fn strings_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Vec<String> {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get(obj, key) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i) {
            Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
            Ok(Some((Value::Object(ObjType::Text), id))) => doc.text(&id).ok(),
            _ => None,
        })
        .collect()
}

/// Each `(key, map object)` entry of the map at `ROOT[collection]`.
fn entries<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Vec<(String, ObjId)> {
    let Some(map) = map_at(doc, obj, key) else {
        return Vec::new();
    };
    doc.map_range(&map, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => Some((item.key.to_string(), item.id())),
            _ => None,
        })
        .collect()
}

/// A removal recorded on a member or device object, if any.
fn removal_at<D: ReadDoc>(doc: &D, obj: &ObjId) -> Option<Removal> {
    let at = int_at(doc, obj, keys::REMOVED_AT)?;
    Some(Removal {
        by: id_at(doc, obj, keys::REMOVED_BY),
        at: Timestamp(at),
    })
}

fn bool_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> bool {
    matches!(doc.get(obj, key), Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
}

/// The people of the alliance and their devices: (current members, former members, devices).
fn read_people<D: ReadDoc>(doc: &D) -> (Vec<Member>, Vec<Member>, Vec<DeviceEntry>) {
    let root = ROOT;
    let devices: Vec<DeviceEntry> = entries(doc, &root, keys::DEVICES)
        .into_iter()
        .map(|(key, obj)| DeviceEntry {
            key,
            member: id_at(doc, &obj, "member"),
            keeper: bool_at(doc, &obj, keys::KEEPER),
            name: string_at(doc, &obj, keys::NAME),
            addrs: strings_at(doc, &obj, keys::ADDRS),
            added_by: string_at(doc, &obj, "added_by"),
            added_at: ts_at(doc, &obj, "added_at"),
            removed: removal_at(doc, &obj),
        })
        .collect();
    let mut members: Vec<Member> = entries(doc, &root, keys::MEMBERS)
        .into_iter()
        .map(|(key, obj)| {
            let id = ItemId::from_doc_key(&key);
            let added_by = string_at(doc, &obj, "added_by");
            Member {
                devices: devices
                    .iter()
                    .filter(|d| d.member == id && d.removed.is_none())
                    .map(|d| d.key.clone())
                    .collect(),
                id,
                name: string_at(doc, &obj, "name"),
                role: string_at(doc, &obj, "role"),
                admin: bool_at(doc, &obj, keys::ADMIN),
                reader: bool_at(doc, &obj, keys::READER),
                added_by: (!added_by.is_empty()).then(|| ItemId::from_doc_key(&added_by)),
                added_at: ts_at(doc, &obj, "added_at"),
                removed: removal_at(doc, &obj),
            }
        })
        .collect();
    members.sort_by_key(|m| (m.added_at, m.id.clone()));
    let (former, mut members): (Vec<Member>, Vec<Member>) =
        members.into_iter().partition(|m| m.removed.is_some());
    // The rule every device applies (see `rules::admins_at`): with no admin left, the
    // longest-standing member is one.
    // (Readers write nothing, so they are never admins.)
    for m in members.iter_mut().filter(|m| m.reader) {
        m.admin = false;
    }
    if !members.iter().any(|m| m.admin)
        && let Some(first) = members.iter_mut().find(|m| !m.reader)
    {
        first.admin = true;
    }
    (members, former, devices)
}

/// Only who is in the alliance: the title, members and devices, with every other part left
/// empty. Enough to name the authors of changes, at a fraction of [`read_view`]'s cost on a
/// long history (the texts, with all their edits, are not read).
pub fn read_roster<D: ReadDoc>(doc: &D, alliance_id: &ChangeHash) -> AllianceView {
    let (members, former, devices) = read_people(doc);
    AllianceView {
        id: alliance_id.to_string(),
        title: string_at(doc, &ROOT, keys::TITLE),
        created_at: ts_at(doc, &ROOT, keys::CREATED_AT),
        start: string_at(doc, &ROOT, keys::START),
        members,
        former,
        devices,
        needs: Vec::new(),
        plan: Vec::new(),
        vision: String::new(),
        expectations: Vec::new(),
        checkins: Vec::new(),
    }
}

/// Reads the whole alliance.
pub fn read_view<D: ReadDoc>(doc: &D, alliance_id: &ChangeHash) -> AllianceView {
    let root = ROOT;
    let (members, former, devices) = read_people(doc);

    let mut needs: Vec<Need> = entries(doc, &root, keys::NEEDS)
        .into_iter()
        .map(|(key, obj)| Need {
            id: ItemId::from_doc_key(&key),
            owner: id_at(doc, &obj, "owner"),
            text: string_at(doc, &obj, "text"),
            created_at: ts_at(doc, &obj, "created_at"),
        })
        .collect();
    needs.sort_by_key(|n| (n.created_at, n.id.clone()));

    let mut plan: Vec<PlanSession> = entries(doc, &root, keys::PLAN)
        .into_iter()
        .map(|(key, obj)| PlanSession {
            id: ItemId::from_doc_key(&key),
            when: string_at(doc, &obj, "when"),
            how: string_at(doc, &obj, "how"),
            agenda: string_at(doc, &obj, "agenda"),
            attendees: strings_at(doc, &obj, "attendees")
                .iter()
                .map(|s| ItemId::from_doc_key(s))
                .collect(),
            created_by: id_at(doc, &obj, "created_by"),
            created_at: ts_at(doc, &obj, "created_at"),
        })
        .collect();
    plan.sort_by_key(|p| (p.created_at, p.id.clone()));

    // Readers write nothing, so an expectation is agreed without them.
    let member_ids: Vec<ItemId> = members
        .iter()
        .filter(|m| !m.reader)
        .map(|m| m.id.clone())
        .collect();
    let mut expectations: Vec<Expectation> = entries(doc, &root, keys::EXPECTATIONS)
        .into_iter()
        .map(|(key, obj)| {
            let text = string_at(doc, &obj, "text");
            let digest = text_digest(&text);
            let agreements: Vec<Agreement> = entries(doc, &obj, "agreements")
                .into_iter()
                .map(|(member, a)| {
                    let d = string_at(doc, &a, "text_digest");
                    Agreement {
                        member: ItemId::from_doc_key(&member),
                        current: d == digest,
                        text_digest: d,
                        at: ts_at(doc, &a, "at"),
                    }
                })
                .collect();
            let retired = int_at(doc, &obj, "retired_at").is_some();
            let everyone_agrees = !member_ids.is_empty()
                && member_ids
                    .iter()
                    .all(|m| agreements.iter().any(|a| &a.member == m && a.current));
            Expectation {
                id: ItemId::from_doc_key(&key),
                holder: id_at(doc, &obj, "holder"),
                of: strings_at(doc, &obj, "of")
                    .iter()
                    .map(|s| ItemId::from_doc_key(s))
                    .collect(),
                status: if retired {
                    ExpectationStatus::Retired
                } else if everyone_agrees {
                    ExpectationStatus::Agreed
                } else {
                    ExpectationStatus::Proposed
                },
                agreements,
                text,
                text_digest: digest,
                created_at: ts_at(doc, &obj, "created_at"),
            }
        })
        .collect();
    expectations.sort_by_key(|e| (e.created_at, e.id.clone()));

    let mut checkins: Vec<CheckIn> = entries(doc, &root, keys::CHECKINS)
        .into_iter()
        .map(|(key, obj)| {
            let mut reflections: Vec<Reflection> = entries(doc, &obj, "reflections")
                .into_iter()
                .map(|(member, r)| Reflection {
                    member: ItemId::from_doc_key(&member),
                    text: string_at(doc, &r, "text"),
                    rating: int_at(doc, &r, "rating")
                        .and_then(|r| u8::try_from(r).ok())
                        .unwrap_or(0),
                    at: ts_at(doc, &r, "at"),
                })
                .collect();
            reflections.sort_by_key(|r| (r.at, r.member.clone()));
            CheckIn {
                id: ItemId::from_doc_key(&key),
                date: string_at(doc, &obj, "date"),
                reflections,
                proposed_changes: strings_at(doc, &obj, "proposed_changes"),
                next_in_days: int_at(doc, &obj, "next_in_days")
                    .and_then(|d| u32::try_from(d).ok())
                    .unwrap_or(0),
                created_by: id_at(doc, &obj, "created_by"),
                created_at: ts_at(doc, &obj, "created_at"),
            }
        })
        .collect();
    checkins.sort_by(|a, b| (&a.date, a.created_at).cmp(&(&b.date, b.created_at)));

    AllianceView {
        id: alliance_id.to_string(),
        title: string_at(doc, &root, keys::TITLE),
        created_at: ts_at(doc, &root, keys::CREATED_AT),
        start: string_at(doc, &root, keys::START),
        members,
        former,
        devices,
        needs,
        plan,
        vision: string_at(doc, &root, keys::VISION),
        expectations,
        checkins,
    }
}

// ---------------------------------------------------------------------------------------------
// Writers of the schema's parts that more than one edit writes.

/// Writes a member (`ROOT.members[id]`, see docs/schema.md) in `tx`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_member(
    tx: &mut Transaction<'_>,
    members: &ObjId,
    id: &ItemId,
    name: &str,
    role: &str,
    added_by: Option<&ItemId>,
    reader: bool,
    now: Timestamp,
) -> Result<(), AutomergeError> {
    let m = tx.put_object(members, id.as_str(), ObjType::Map)?;
    tx.put(&m, "name", name)?;
    tx.put(&m, "role", role)?;
    if reader {
        tx.put(&m, keys::READER, true)?;
    }
    tx.put(&m, "added_by", added_by.map(|a| a.as_str()).unwrap_or(""))?;
    tx.put(&m, "added_at", now.0)?;
    if added_by.is_none() {
        // The founder is the first admin.
        tx.put(&m, keys::ADMIN, true)?;
    }
    Ok(())
}

/// Writes a device of a member (`ROOT.devices[key_hex]`, see docs/schema.md) in `tx`; from
/// then on the device may write.
pub(crate) fn put_device(
    tx: &mut Transaction<'_>,
    devices: &ObjId,
    key_hex: &str,
    member: &ItemId,
    added_by: &str,
    now: Timestamp,
) -> Result<(), AutomergeError> {
    let d = tx.put_object(devices, key_hex, ObjType::Map)?;
    tx.put(&d, "member", member.as_str())?;
    tx.put(&d, "added_by", added_by)?;
    tx.put(&d, "added_at", now.0)?;
    Ok(())
}

/// A keeper's entry in `ROOT.devices`: no person, `keeper: true`, a name.
pub(crate) fn put_keeper(
    tx: &mut Transaction<'_>,
    devices: &ObjId,
    key_hex: &str,
    name: &str,
    addrs: &[String],
    added_by: &str,
    now: Timestamp,
) -> Result<(), AutomergeError> {
    let d = tx.put_object(devices, key_hex, ObjType::Map)?;
    tx.put(&d, keys::KEEPER, true)?;
    tx.put(&d, keys::NAME, name)?;
    let list = tx.put_object(&d, keys::ADDRS, ObjType::List)?;
    for (i, a) in addrs.iter().enumerate() {
        tx.insert(&list, i, a.as_str())?;
    }
    tx.put(&d, "added_by", added_by)?;
    tx.put(&d, "added_at", now.0)?;
    Ok(())
}

/// Appended to a field's value while it holds several concurrent values.
pub const CONFLICT_MARK: &str = "(conflict)";

/// A scalar as people read it (strings unquoted, null as `null`).
pub(crate) fn scalar(s: &automerge::ScalarValue) -> String {
    match s {
        automerge::ScalarValue::Str(s) => s.to_string(),
        automerge::ScalarValue::Null => "null".into(),
        other => other.to_string(),
    }
}
