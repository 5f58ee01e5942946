//! Per-item history and blame: every version of one item, field by field, with who made each
//! change; and who wrote which part of the current vision.
//!
//! Both start from a [`ChangeIndex`], which knows which changes touched which item, so an
//! item's history reads the item only around the changes that touched it (two historical
//! reads per version) instead of replaying the whole history.
//!
//! A version is the change's *own* diff: the item as of the change's dependencies against the
//! item as of the change. So when two people edit concurrently, both versions show what each
//! of them did, even the one whose value lost the conflict. Authors are named only for changes
//! that verify (see [`Attributor`]). No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value, ValueRef};
use serde::Serialize;

use crate::core::document::index::{ChangeIndex, Touch};
use crate::core::document::model::{AllianceView, CONFLICT_MARK, keys, scalar};
use crate::core::document::replay::{ChainCheck, ItemReplay};
use crate::core::ids::{ItemId, ItemKind, Timestamp};
use crate::core::replica::{Facts, LogEntry, Replica};

/// Names the authors of changes, verifying each change once (signature and membership), and
/// naming a person only when their change verifies. A change that fails is `unknown`.
pub struct Attributor<'a> {
    replica: &'a Replica,
    view: &'a AllianceView,
    cache: HashMap<ChangeHash, LogEntry>,
    authors: crate::core::trust::signed::Authors,
}

impl<'a> Attributor<'a> {
    pub fn new(replica: &'a Replica, view: &'a AllianceView) -> Self {
        Attributor {
            replica,
            view,
            cache: HashMap::new(),
            authors: crate::core::trust::signed::Authors::default(),
        }
    }

    /// Checks the changes about to be attributed together ([`Replica::check_ahead`]: the
    /// signatures in batches, membership once per device and branch); `hashes` best in causal
    /// order.
    pub fn prepare(&mut self, hashes: &[ChangeHash]) {
        let metas: Vec<automerge::ChangeMetadata<'_>> = hashes
            .iter()
            .filter_map(|h| self.replica.doc().get_change_meta_by_hash(h))
            .collect();
        let listed: Vec<(Facts<'_>, Option<crate::core::DeviceId>)> = metas
            .iter()
            .map(|m| (Facts::from(m), self.authors.of(&m.actor)))
            .collect();
        self.replica.check_ahead(&listed);
    }

    /// The verdict on and author of one change (`None`: the history does not hold it).
    pub fn attribute(&mut self, hash: &ChangeHash) -> Option<&LogEntry> {
        if !self.cache.contains_key(hash) {
            let meta = self.replica.doc().get_change_meta_by_hash(hash)?;
            let facts = Facts::from(&meta);
            let author = self.authors.of(facts.actor);
            let entry = self.replica.entry(self.view, &facts, author);
            self.cache.insert(*hash, entry);
        }
        self.cache.get(hash)
    }
}

/// One field that changed: its path inside the item, before and after (`None`: absent), and
/// the change in words when it is worth telling a person (`None` for bookkeeping fields such
/// as `created_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub words: Option<String>,
}

/// One version of an item: one change that touched it.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub change: String,
    /// The author's name, or `unknown` when the change does not verify.
    pub author: String,
    /// The author's member ID, only when the change verifies.
    pub member: Option<ItemId>,
    pub device: String,
    pub time: Timestamp,
    pub verified: bool,
    /// Why the change failed verification, if it did.
    pub problem: Option<String>,
    /// The change's own one-line summary.
    pub summary: String,
    pub fields: Vec<FieldChange>,
}

/// Every field of the item `id`, flattened (`text`, `agreements.m4k2x.text_digest`, ...), as of
/// `heads`; empty when the item does not exist there. A member also lists its devices
/// (`devices.<key>.added_by`, ...), so a member's history is also its membership history.
pub fn item_at(
    doc: &automerge::Automerge,
    id: &ItemId,
    heads: &[ChangeHash],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(collection) = map_at(doc, &ROOT, id.kind().collection(), heads)
        && let Some(item) = map_at(doc, &collection, id.as_str(), heads)
    {
        flatten(doc, &item, heads, "", &mut out);
    }
    if id.kind() == ItemKind::Member
        && let Some(devices) = map_at(doc, &ROOT, keys::DEVICES, heads)
    {
        let keys: Vec<String> = doc.keys_at(&devices, heads).collect();
        for key in keys {
            let Some(device) = map_at(doc, &devices, &key, heads) else {
                continue;
            };
            let mut fields = BTreeMap::new();
            flatten(doc, &device, heads, "", &mut fields);
            let belongs = fields.get("member").is_some_and(|m| {
                m == id.as_str()
                    || m.strip_suffix(CONFLICT_MARK)
                        .is_some_and(|all| all.split(" | ").any(|v| v.trim() == id.as_str()))
            });
            if belongs {
                // Plainly this member's device: the member field says nothing new. Claimed by
                // several members at once: keep it, so the conflict shows.
                if fields.get("member").map(String::as_str) == Some(id.as_str()) {
                    fields.remove("member");
                }
                for (k, v) in fields {
                    out.insert(format!("devices.{key}.{k}"), v);
                }
            }
        }
    }
    out
}

fn map_at(
    doc: &automerge::Automerge,
    obj: &ObjId,
    key: &str,
    heads: &[ChangeHash],
) -> Option<ObjId> {
    match doc.get_at(obj, key, heads) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

fn flatten(
    doc: &automerge::Automerge,
    obj: &ObjId,
    heads: &[ChangeHash],
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) {
    let keys: Vec<String> = doc.keys_at(obj, heads).collect();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match doc.get_at(obj, key.as_str(), heads) {
            Ok(Some((Value::Scalar(s), _))) => {
                // A field set concurrently reads as all its values, so the change that
                // settles the conflict shows as a version too.
                let all = doc.get_all_at(obj, key.as_str(), heads).unwrap_or_default();
                let value = if all.len() > 1 {
                    let values: Vec<String> = all
                        .iter()
                        .map(|(v, _)| match v {
                            Value::Scalar(s) => scalar(s),
                            Value::Object(_) => "(object)".into(),
                        })
                        .collect();
                    format!("{} {CONFLICT_MARK}", values.join(" | "))
                } else {
                    scalar(&s)
                };
                out.insert(path, value);
            }
            Ok(Some((Value::Object(ObjType::Text), t))) => {
                out.insert(path, doc.text_at(&t, heads).unwrap_or_default());
            }
            Ok(Some((Value::Object(ObjType::List), l))) => {
                let items: Vec<String> = (0..doc.length_at(&l, heads))
                    .filter_map(|i| match doc.get_at(&l, i, heads) {
                        Ok(Some((Value::Scalar(s), _))) => Some(scalar(&s)),
                        Ok(Some((Value::Object(ObjType::Text), t))) => doc.text_at(&t, heads).ok(),
                        _ => None,
                    })
                    .collect();
                out.insert(path, items.join(", "));
            }
            Ok(Some((Value::Object(_), m))) => flatten(doc, &m, heads, &path, out),
            _ => {}
        }
    }
}

/// The fields that differ between two readings of an item, in words where it helps.
pub fn field_changes(
    kind: ItemKind,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    view: &AllianceView,
) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (o, n) = (old.get(key), new.get(key));
            (o != n).then(|| FieldChange {
                field: key.clone(),
                old: o.cloned(),
                new: n.cloned(),
                words: match (kind, key.as_str(), n) {
                    // Removed by themselves: they left.
                    (ItemKind::Member, "removed_by", Some(by))
                        if view.member(&ItemId::from_doc_key(by)).is_some_and(|m| {
                            Some(&m.name) == new.get("name")
                                && m.removed.as_ref().is_some_and(|r| r.by == m.id)
                        }) =>
                    {
                        Some("left the alliance".to_string())
                    }
                    _ => words(kind, key, o, n, view),
                },
            })
        })
        .collect()
}

/// The first ten characters of a key or ID from the document (which any member can write, so
/// it is cut by characters, never by bytes).
pub fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

fn quoted(s: &str) -> String {
    let one_line: String = s.replace('\n', " ");
    let mut short: String = one_line.chars().take(80).collect();
    if one_line.chars().count() > 80 {
        short.push('…');
    }
    format!("\"{short}\"")
}

fn date_of(v: &str) -> Option<String> {
    v.parse::<i64>().ok().map(|t| Timestamp(t).date())
}

fn names(view: &AllianceView, ids: &str) -> String {
    let list: Vec<String> = ids
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| view.name_of(&ItemId::from_doc_key(s)))
        .collect();
    if list.is_empty() {
        "everyone".into()
    } else {
        list.join(", ")
    }
}

/// One field change in words, or `None` when it is bookkeeping a person need not read.
fn words(
    kind: ItemKind,
    field: &str,
    old: Option<&String>,
    new: Option<&String>,
    view: &AllianceView,
) -> Option<String> {
    let parts: Vec<&str> = field.split('.').collect();
    let name = |id: &str| view.name_of(&ItemId::from_doc_key(id));
    let in_conflict = |v: Option<&String>| v.is_some_and(|v| v.ends_with(CONFLICT_MARK));
    if in_conflict(old) || in_conflict(new) {
        let shown = |v: Option<&String>| match v {
            None => "(none)".to_string(),
            Some(v) => match v.strip_suffix(CONFLICT_MARK) {
                Some(values) => format!("in conflict: {}", values.trim_end()),
                None => quoted(v),
            },
        };
        return Some(format!(
            "{}: {} → {}",
            field.replace('_', " "),
            shown(old),
            shown(new)
        ));
    }
    match (parts.as_slice(), old, new) {
        (["agreements", m, "text_digest"], None, Some(_)) => Some(format!("{} agreed", name(m))),
        (["agreements", m, "text_digest"], Some(_), Some(_)) => {
            Some(format!("{} agreed to the new wording", name(m)))
        }
        (["agreements", m, "text_digest"], Some(_), None) => {
            Some(format!("{}'s agreement was withdrawn", name(m)))
        }
        (["reflections", m, "text"], _, Some(t)) if !t.is_empty() => {
            Some(format!("{} reflected: {}", name(m), quoted(t)))
        }
        (["reflections", m, "rating"], _, Some(r)) => Some(format!("{} rated it {r}/5", name(m))),
        (["devices", key, "added_by"], None, Some(by)) => Some(format!(
            "device {} joined, added by {}",
            short(key),
            view.member_of_device(by)
                .map(|m| m.name.clone())
                .unwrap_or_else(|| format!("device {}", short(by)))
        )),
        (["devices", key, "added_by"], Some(_), None) => {
            Some(format!("device {} was removed", short(key)))
        }
        (["retired_at"], _, Some(t)) if t != "null" => {
            Some(format!("retired on {}", date_of(t).unwrap_or_default()))
        }
        (["added_by"], None, Some(by)) if !by.is_empty() => Some(format!("added by {}", name(by))),
        // A person leaving or removed (`removed_by` is who did it: themselves when they left).
        (["removed_by"], None, Some(by)) if kind == ItemKind::Member => {
            Some(format!("removed by {}", name(by)))
        }
        (["admin"], _, Some(v)) if kind == ItemKind::Member => Some(if v == "true" {
            "made an admin".to_string()
        } else {
            "no longer an admin".to_string()
        }),
        (["devices", key, "removed_by"], None, Some(by)) => {
            Some(format!("device {} was removed by {}", short(key), name(by)))
        }
        // Field names as words: "created by", not `created_by`.
        ([f], _, Some(v)) if ["owner", "holder", "created_by"].contains(f) => {
            Some(format!("{}: {}", f.replace('_', " "), name(v)))
        }
        (["of"], _, Some(v)) => Some(format!("of: {}", names(view, v))),
        (["attendees"], _, Some(v)) => Some(format!("attendees: {}", names(view, v))),
        ([_], None, Some(v)) if v.is_empty() => None,
        ([f], None, Some(v)) if !f.ends_with("_at") => Some(format!("{f}: {}", quoted(v))),
        // A long text (the vision, or any text of several lines): the lines that changed.
        ([f], Some(o), Some(v))
            if !f.ends_with("_at") && (o.contains('\n') || v.contains('\n') || *f == "vision") =>
        {
            let lines = crate::core::document::text::line_changes(o, v);
            (!lines.is_empty()).then(|| format!("{f}: {}", lines.join("\n")))
        }
        ([f], Some(o), Some(v)) if !f.ends_with("_at") => {
            Some(format!("{f}: {} → {}", quoted(o), quoted(v)))
        }
        ([f], Some(o), None) if !f.ends_with("_at") && kind != ItemKind::Member => {
            Some(format!("{f} removed (was {})", quoted(o)))
        }
        _ => None,
    }
}

impl Replica {
    /// Every version of one item, oldest first (causal order). Empty when the item never
    /// existed. A change that touched the item without changing what it reads (e.g. an edit
    /// that was itself overwritten in the same change) is left out.
    pub fn history(&self, index: &ChangeIndex, id: &ItemId) -> Vec<Version> {
        self.prime_vouchers(index);
        let view = self.roster();
        let mut attributor = Attributor::new(self, &view);
        let touch = Touch::Item(id.clone());
        let mut versions = Vec::new();
        // The item read forward from the changes' own operations while its changes form a
        // chain (see `replay`), with the reading after one version the reading before the
        // next; a version concurrent with another is read from the document as of its points.
        let touching: Vec<ChangeHash> = index.touching(&touch).map(|e| e.hash).collect();
        attributor.prepare(&touching);
        // The item's changes themselves, for the replay, read back in one pass.
        let changes = self.changes_of(&touching);
        let mut replay = ItemReplay::new(self.doc(), id);
        let mut chain = ChainCheck::default();
        let mut last = BTreeMap::new();
        for e in index.touching(&touch) {
            let follows = chain.follows(index, &e.hash);
            let before = follows.then(|| std::mem::take(&mut last));
            let applied = match (&mut replay, changes.get(&e.hash)) {
                (Some(r), Some(change)) => r.apply(change).is_ok(),
                _ => false,
            };
            if !applied {
                replay = None;
            }
            let (old, new) = match (before, &replay) {
                (Some(old), Some(r)) => (old, r.read()),
                _ => {
                    let old = if e.deps.is_empty() {
                        BTreeMap::new()
                    } else {
                        item_at(self.doc(), id, &e.deps)
                    };
                    (old, item_at(self.doc(), id, &[e.hash]))
                }
            };
            if let Some(r) = &replay {
                // What the next version starts from when it follows this one and all before.
                last = if follows { new.clone() } else { r.read() };
            }
            let fields = field_changes(id.kind(), &old, &new, &view);
            if fields.is_empty() {
                continue;
            }
            let Some(a) = attributor.attribute(&e.hash) else {
                continue;
            };
            versions.push(Version {
                change: a.hash.clone(),
                author: a.author.clone(),
                member: a.member.clone(),
                device: a.device.clone(),
                time: e.time,
                verified: a.verified,
                problem: a.problem.clone(),
                summary: a.summary.clone(),
                fields,
            });
        }
        versions
    }

    /// Who wrote which part of the current vision: consecutive characters written by the same
    /// person (or by the same unverified change) form one span. Characters whose change fails
    /// verification are never attributed to the person it names.
    pub fn blame_vision(&self, index: &ChangeIndex) -> Vec<BlameSpan> {
        self.prime_vouchers(index);
        let view = self.roster();
        let mut attributor = Attributor::new(self, &view);
        let Ok(Some((Value::Object(ObjType::Text), text))) = self.doc().get(ROOT, keys::VISION)
        else {
            return Vec::new();
        };
        // Each character with the change that typed it; those changes checked together.
        let chars: Vec<(String, Option<ChangeHash>)> = self
            .doc()
            .list_range(&text, ..)
            .filter_map(|item| {
                let ch = match &item.value {
                    ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => s.to_string(),
                    _ => return None,
                };
                match item.id() {
                    automerge::ObjId::Id(counter, actor, _) => {
                        Some((ch, index.change_of_op(&actor, counter).map(|e| e.hash)))
                    }
                    automerge::ObjId::Root => None,
                }
            })
            .collect();
        let mut typed: Vec<ChangeHash> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for h in chars.iter().filter_map(|(_, h)| *h) {
            if seen.insert(h) {
                typed.push(h);
            }
        }
        typed.sort_by_key(|h| index.position(h));
        attributor.prepare(&typed);
        let mut spans: Vec<BlameSpan> = Vec::new();
        // The changes of the span being built, to list each once without searching the list
        // (a vision typed a key per change has a change per character).
        let mut in_span: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (ch, change) in chars {
            let (author, member, device, verified, change) = {
                {
                    match change.and_then(|h| attributor.attribute(&h)) {
                        Some(a) => (
                            a.author.clone(),
                            a.member.clone(),
                            a.device.clone(),
                            a.verified,
                            a.hash.clone(),
                        ),
                        None => ("unknown".into(), None, String::new(), false, String::new()),
                    }
                }
            };
            // Verified characters group by person; unverified ones by change, so a forged
            // change stands out on its own.
            let same = spans.last().is_some_and(|s| {
                s.verified == verified
                    && if verified {
                        s.member == member && (member.is_some() || s.devices.contains(&device))
                    } else {
                        s.changes.last() == Some(&change)
                    }
            });
            if same {
                let s = spans.last_mut().expect("checked");
                s.text.push_str(&ch);
                if in_span.insert(change.clone()) {
                    s.changes.push(change);
                }
                if !s.devices.contains(&device) {
                    s.devices.push(device);
                }
            } else {
                in_span.clear();
                in_span.insert(change.clone());
                spans.push(BlameSpan {
                    text: ch,
                    author,
                    member,
                    devices: vec![device],
                    verified,
                    changes: vec![change],
                });
            }
        }
        spans
    }
}

/// Who wrote how much of a text: a person (or `unknown`, for characters whose change does not
/// verify) and the characters they wrote, not counting line breaks.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Share {
    pub author: String,
    pub verified: bool,
    pub chars: usize,
}

/// One line of the vision and who wrote it, most first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlameLine {
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub authors: Vec<Share>,
}

/// The vision's blame by line: who wrote most of the whole text, each line with its authors,
/// and the runs of characters underneath (`blame vision --detail`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Blame {
    pub authors: Vec<Share>,
    pub lines: Vec<BlameLine>,
    pub spans: Vec<BlameSpan>,
}

impl Blame {
    /// Groups runs of characters by line, and counts each person's share.
    pub fn by_line(spans: Vec<BlameSpan>) -> Blame {
        fn add(shares: &mut Vec<Share>, span: &BlameSpan, chars: usize) {
            if chars == 0 {
                return;
            }
            match shares
                .iter_mut()
                .find(|s| s.author == span.author && s.verified == span.verified)
            {
                Some(s) => s.chars += chars,
                None => shares.push(Share {
                    author: span.author.clone(),
                    verified: span.verified,
                    chars,
                }),
            }
        }
        let most_first = |shares: &mut Vec<Share>| {
            shares.sort_by(|a, b| b.chars.cmp(&a.chars).then(a.author.cmp(&b.author)))
        };
        let mut authors = Vec::new();
        let mut lines = vec![BlameLine {
            line: 1,
            text: String::new(),
            authors: Vec::new(),
        }];
        for span in &spans {
            for (i, part) in span.text.split('\n').enumerate() {
                if i > 0 {
                    let line = lines.len() + 1;
                    lines.push(BlameLine {
                        line,
                        text: String::new(),
                        authors: Vec::new(),
                    });
                }
                let current = lines.last_mut().expect("one line at least");
                current.text.push_str(part);
                let n = part.chars().count();
                add(&mut current.authors, span, n);
                add(&mut authors, span, n);
            }
        }
        for l in &mut lines {
            most_first(&mut l.authors);
        }
        lines.retain(|l| !l.text.trim().is_empty());
        most_first(&mut authors);
        Blame {
            authors,
            lines,
            spans,
        }
    }
}

/// A run of the vision text written by one person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlameSpan {
    pub text: String,
    /// The author's name, or `unknown` when the change does not verify.
    pub author: String,
    pub member: Option<ItemId>,
    /// The devices the characters were typed on (hex keys).
    pub devices: Vec<String>,
    pub verified: bool,
    /// The changes that wrote these characters, in text order.
    pub changes: Vec<String>,
}
