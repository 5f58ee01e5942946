//! Conflicts: fields that two people set concurrently.
//!
//! Automerge keeps every concurrent value of a map key and picks one winner deterministically;
//! the others are still in the document (`get_all`). Alliance shows all of them with their
//! authors, so a family sees that their edits collided instead of one silently winning, and
//! [`Replica::resolve`] writes the value they settle on: one new put that supersedes every
//! conflicting value, signed like any other change.
//!
//! Texts merge character by character instead; two people rewriting the same words of one
//! text at once is a *text conflict* ([`crate::core::document::text_conflicts`]), listed here with the
//! field conflicts and settled by [`Replica::resolve_with`] as splices. No I/O.

use std::collections::BTreeMap;

use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use serde::Serialize;

use crate::core::document::edit::{Edited, excerpt};
use crate::core::document::history::Attributor;
use crate::core::document::index::ChangeIndex;
use crate::core::document::model::scalar;
use crate::core::document::model::{self, keys};
use crate::core::document::text_conflicts::TextRef;
use crate::core::ids::{ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer};

/// One field with several concurrent values, or one text that several people rewrote at once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conflict {
    /// The item, or `None` for a field of the alliance itself (its title) and for the vision.
    pub item: Option<ItemId>,
    /// The field's path inside the item, e.g. `when` or `reflections.m4k2x.rating`; `vision`
    /// for the vision.
    pub field: String,
    /// Every value, in the order `resolve --pick` numbers them (1, 2, ...). For a text
    /// conflict: each side's intended text (the vision: its version of the sentence).
    pub values: Vec<ConflictValue>,
    /// `text` for overlapping concurrent rewrites of a text (absent for a field conflict).
    #[serde(skip_serializing_if = "ConflictKind::is_field")]
    pub kind: ConflictKind,
    /// A text conflict: what the merge produced (the vision: the sentence as it reads now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged: Option<String>,
    /// A conflict in the vision: the line its sentence starts on (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// What collided.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConflictKind {
    /// A field set to several values at once.
    #[default]
    Field,
    /// Overlapping concurrent rewrites of one text.
    Text,
}

impl ConflictKind {
    fn is_field(&self) -> bool {
        *self == ConflictKind::Field
    }
}

impl Conflict {
    /// Whether this is a text conflict.
    pub fn is_text(&self) -> bool {
        self.kind == ConflictKind::Text
    }
}

/// One of the concurrent values of a field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConflictValue {
    /// The value as it reads (an object reads as its fields).
    pub value: String,
    /// Whether this is the value Automerge currently shows.
    pub winner: bool,
    pub change: String,
    /// The author's name, or `unknown` when the change does not verify.
    pub author: String,
    pub member: Option<ItemId>,
    pub device: String,
    pub verified: bool,
}

/// Item fields that are bookkeeping: a concurrent difference in them alone is no conflict a
/// person needs to settle (two devices of one person agreeing at the same time, say).
const BOOKKEEPING: [&str; 3] = ["at", "device", "added_at"];

fn render(doc: &automerge::Automerge, value: &Value<'_>, id: &ObjId) -> String {
    match value {
        Value::Scalar(s) => scalar(s),
        Value::Object(ObjType::Text) => doc.text(id).unwrap_or_default(),
        Value::Object(ObjType::List) => (0..doc.length(id))
            .filter_map(|i| match doc.get(id, i) {
                Ok(Some((v, vid))) => Some(render(doc, &v, &vid)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => doc
            .keys(id)
            .filter(|k| !BOOKKEEPING.contains(&k.as_str()))
            .filter_map(|k| match doc.get(id, k.as_str()) {
                Ok(Some((v, vid))) => Some(format!("{k}: {}", render(doc, &v, &vid))),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// One of several concurrent values, before attribution.
struct Raw {
    value: String,
    op: ObjId,
    winner: bool,
}

/// A field with several values, before attribution: item, path, values.
struct RawConflict {
    item: Option<ItemId>,
    field: String,
    values: Vec<Raw>,
}

/// The values of `obj[key]` when there are several that read differently.
fn concurrent(doc: &automerge::Automerge, obj: &ObjId, key: &str) -> Option<Vec<Raw>> {
    let all = doc.get_all(obj, key).ok()?;
    if all.len() < 2 {
        return None;
    }
    let winner = doc.get(obj, key).ok().flatten().map(|(_, id)| id);
    let values: Vec<Raw> = all
        .iter()
        .map(|(v, id)| Raw {
            value: render(doc, v, id),
            op: id.clone(),
            winner: Some(id) == winner.as_ref(),
        })
        .collect();
    let mut distinct: Vec<&String> = values.iter().map(|r| &r.value).collect();
    distinct.sort();
    distinct.dedup();
    (distinct.len() > 1).then_some(values)
}

/// The fields of `obj` with several values, recursively (paths joined with `.`). One pass over
/// each map; only keys Automerge flags as conflicted are read in full.
fn walk(
    doc: &automerge::Automerge,
    obj: &ObjId,
    item: &ItemId,
    prefix: &str,
    out: &mut Vec<RawConflict>,
) {
    let entries: Vec<(String, bool, Option<ObjId>)> = doc
        .map_range(obj, ..)
        .map(|e| {
            let child =
                matches!(e.value, automerge::ValueRef::Object(ObjType::Map)).then(|| e.id());
            (e.key.to_string(), e.conflict, child)
        })
        .collect();
    for (key, conflict, child) in entries {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if conflict
            && !BOOKKEEPING.contains(&key.as_str())
            && let Some(values) = concurrent(doc, obj, &key)
        {
            out.push(RawConflict {
                item: Some(item.clone()),
                field: path.clone(),
                values,
            });
        }
        if let Some(child) = child {
            walk(doc, &child, item, &path, out);
        }
    }
}

impl Replica {
    /// Every unresolved conflict in the alliance: field conflicts (items by kind and ID, then
    /// the title), then text conflicts (items, then the vision). Field conflicts are found on
    /// the current document; text conflicts through the history index (given, or built here).
    pub fn conflicts(&self, index: Option<&ChangeIndex>) -> Vec<Conflict> {
        self.conflicts_of(index, true)
    }

    /// [`Replica::conflicts`] without looking for text conflicts: for a caller that knows there
    /// are none at these heads (a local note from an earlier check), so the history index is
    /// needed only to attribute a field conflict.
    pub fn field_conflicts(&self, index: Option<&ChangeIndex>) -> Vec<Conflict> {
        self.conflicts_of(index, false)
    }

    fn conflicts_of(&self, index: Option<&ChangeIndex>, texts: bool) -> Vec<Conflict> {
        if let Some(index) = index {
            self.prime_vouchers(index);
        }
        let doc = self.doc();
        let mut found: Vec<RawConflict> = Vec::new();
        for kind in ItemKind::ALL {
            let Some(collection) = model::map_at(doc, &ROOT, kind.collection()) else {
                continue;
            };
            let items: Vec<(String, bool, Option<ObjId>)> = doc
                .map_range(&collection, ..)
                .map(|e| {
                    let obj = matches!(e.value, automerge::ValueRef::Object(ObjType::Map))
                        .then(|| e.id());
                    (e.key.to_string(), e.conflict, obj)
                })
                .collect();
            for (key, conflict, item) in items {
                let id = ItemId::from_doc_key(&key);
                // Two items created under the same ID: vanishingly rare with random IDs,
                // but show it rather than hide one.
                if conflict && let Some(values) = concurrent(doc, &collection, &key) {
                    found.push(RawConflict {
                        item: Some(id.clone()),
                        field: String::new(),
                        values,
                    });
                }
                if let Some(item) = item {
                    walk(doc, &item, &id, "", &mut found);
                }
            }
        }
        // Two members claiming one device at the same time: whichever Automerge shows decides
        // whom the device acts for, so it must be seen.
        if let Some(devices) = model::map_at(doc, &ROOT, keys::DEVICES) {
            let claimed: Vec<(String, bool, Option<ObjId>)> = doc
                .map_range(&devices, ..)
                .map(|e| {
                    let obj = matches!(e.value, automerge::ValueRef::Object(ObjType::Map))
                        .then(|| e.id());
                    (e.key.to_string(), e.conflict, obj)
                })
                .collect();
            for (key, conflict, device) in claimed {
                if conflict && let Some(values) = concurrent(doc, &devices, &key) {
                    found.push(RawConflict {
                        item: None,
                        field: format!("{}.{key}", keys::DEVICES),
                        values,
                    });
                }
                if let Some(device) = device
                    && let Some(values) = concurrent(doc, &device, "member")
                {
                    found.push(RawConflict {
                        item: None,
                        field: format!("{}.{key}.member", keys::DEVICES),
                        values,
                    });
                }
            }
        }
        if let Some(values) = concurrent(doc, &ROOT, keys::TITLE) {
            found.push(RawConflict {
                item: None,
                field: keys::TITLE.to_string(),
                values,
            });
        }
        if found.is_empty() && !texts {
            return Vec::new();
        }
        let built;
        let index = match index {
            Some(i) => i,
            None => {
                built = ChangeIndex::build(self);
                &built
            }
        };
        let texts = if texts {
            self.text_conflicts(index)
        } else {
            Vec::new()
        };
        if found.is_empty() && texts.is_empty() {
            return Vec::new();
        }
        let view = self.roster();
        let mut attributor = Attributor::new(self, &view);
        let mut out: Vec<Conflict> = found
            .into_iter()
            .map(|raw| Conflict {
                item: raw.item,
                field: raw.field,
                values: raw
                    .values
                    .into_iter()
                    .map(|Raw { value, op, winner }| {
                        let a = match &op {
                            ObjId::Id(counter, actor, _) => index
                                .change_of_op(actor, *counter)
                                .and_then(|e| attributor.attribute(&e.hash))
                                .cloned(),
                            ObjId::Root => None,
                        };
                        ConflictValue {
                            value,
                            winner,
                            change: a.as_ref().map(|a| a.hash.clone()).unwrap_or_default(),
                            author: a
                                .as_ref()
                                .map(|a| a.author.clone())
                                .unwrap_or_else(|| "unknown".into()),
                            member: a.as_ref().and_then(|a| a.member.clone()),
                            device: a.as_ref().map(|a| a.device.clone()).unwrap_or_default(),
                            verified: a.is_some_and(|a| a.verified),
                        }
                    })
                    .collect(),
                kind: ConflictKind::Field,
                merged: None,
                line: None,
            })
            .collect();
        for t in texts {
            let item = match &t.text {
                TextRef::Item { id, .. } => Some(id.clone()),
                TextRef::Vision => None,
            };
            let values = t
                .sides
                .into_iter()
                .map(|side| {
                    let a = attributor.attribute(&side.change).cloned();
                    ConflictValue {
                        value: side.text,
                        winner: false,
                        change: a
                            .as_ref()
                            .map(|a| a.hash.clone())
                            .unwrap_or_else(|| side.change.to_string()),
                        author: a
                            .as_ref()
                            .map(|a| a.author.clone())
                            .unwrap_or_else(|| "unknown".into()),
                        member: a.as_ref().and_then(|a| a.member.clone()),
                        device: a.as_ref().map(|a| a.device.clone()).unwrap_or_default(),
                        verified: a.is_some_and(|a| a.verified),
                    }
                })
                .collect();
            out.push(Conflict {
                item,
                field: t.text.field().to_string(),
                values,
                kind: ConflictKind::Text,
                merged: Some(t.merged),
                line: t.line,
            });
        }
        out
    }

    /// Settles a conflict, whichever kind: a text conflict on `field` of `target` (or of the
    /// vision) as splices that rewrite its region, else a field conflict as [`Replica::resolve`]
    /// does.
    pub fn resolve_with(
        &mut self,
        writer: &Writer<'_>,
        index: &ChangeIndex,
        target: &Place,
        field: &str,
        choice: Resolution,
    ) -> Result<Edited, EditError> {
        let text = match target {
            Place::Vision => Some(TextRef::Vision),
            Place::Item(id) => Some(TextRef::Item {
                id: id.clone(),
                field: field.to_string(),
            }),
            Place::Alliance => None,
        };
        if let Some(text) = text {
            let me = self
                .member_of(&writer.key.device_id())
                .ok_or_else(|| EditError::NotAMember(writer.key.device_id().short()))?;
            if let Place::Item(id) = target
                && id.kind() == ItemKind::Need
                && let Some(collection) = model::map_at(self.doc(), &ROOT, id.kind().collection())
                && let Some(item) = model::map_at(self.doc(), &collection, id.as_str())
            {
                let owner = model::string_at(self.doc(), &item, "owner");
                if owner != me.as_str() {
                    return Err(EditError::NotOwner {
                        id: id.to_string(),
                        owner: self.roster().name_of(&ItemId::from_doc_key(&owner)),
                    });
                }
            }
            let (pick, value) = match &choice {
                Resolution::Pick(n) => (Some(*n), None),
                Resolution::Value(v) => {
                    if text == TextRef::Vision {
                        return Err(EditError::Invalid(
                            "the vision's conflicts are settled with --pick N; to write something else, settle and then `alliance vision edit`".into(),
                        ));
                    }
                    let v = crate::core::replica::non_empty("value", v)?;
                    if v.chars().count() > crate::constants::MAX_TEXT_CHARS {
                        return Err(EditError::TooLong {
                            what: "value",
                            len: v.chars().count(),
                            max: crate::constants::MAX_TEXT_CHARS,
                        });
                    }
                    (None, Some(v))
                }
            };
            match self
                .settling_splice(index, &text, pick, value.as_deref())
                .map_err(EditError::Invalid)?
            {
                Some((obj, splices, kept)) => {
                    let what = target.to_string();
                    let after = {
                        let mut t: Vec<char> =
                            self.doc().text(&obj).unwrap_or_default().chars().collect();
                        for splice in &splices {
                            let end = (splice.at + splice.delete).min(t.len());
                            t.splice(splice.at.min(end)..end, splice.insert.chars());
                        }
                        t.into_iter().collect::<String>()
                    };
                    let summary = match &text {
                        TextRef::Vision => format!(
                            "resolved a sentence of the vision rewritten at once, keeping \"{}\"",
                            excerpt(&kept)
                        ),
                        TextRef::Item { .. } => {
                            format!("resolved {} of {what}: {}", text.field(), excerpt(&after))
                        }
                    };
                    let change = self.commit(writer, summary.clone(), move |tx| {
                        for splice in splices {
                            tx.splice_text(
                                &obj,
                                splice.at,
                                splice.delete as isize,
                                &splice.insert,
                            )?;
                            if splice.mark {
                                tx.splice_text(&obj, splice.at, 0, " ")?;
                                tx.splice_text(&obj, splice.at, 1, "")?;
                            }
                        }
                        Ok(())
                    })?;
                    return Ok(Edited {
                        id: match target {
                            Place::Item(id) => Some(id.clone()),
                            _ => None,
                        },
                        change,
                        summary,
                    });
                }
                None if text == TextRef::Vision => {
                    return Err(EditError::Invalid(
                        "the vision has no conflict to resolve; `alliance status` lists the conflicts".into(),
                    ));
                }
                None => {}
            }
        }
        self.resolve(writer, target, field, choice)
    }

    /// Agrees to an expectation, unless its text is in a text conflict: then which wording
    /// would be agreed to is not settled yet.
    pub fn agree_settled(
        &mut self,
        writer: &Writer<'_>,
        index: &ChangeIndex,
        id: &ItemId,
    ) -> Result<Edited, EditError> {
        let text = TextRef::Item {
            id: id.clone(),
            field: "text".into(),
        };
        if self
            .raw_text_conflicts(index)
            .iter()
            .any(|c| c.text == text)
        {
            return Err(EditError::Invalid(format!(
                "the text of expectation {id} is in conflict: two people rewrote it at once, so there is no one wording to agree to; settle it first with `alliance resolve {id} text --pick N` (`alliance status` shows the versions)"
            )));
        }
        self.agree(writer, id)
    }

    /// Settles a conflict on `field` of `target` (an item, or the alliance itself for its
    /// title and which member a device belongs to): writes either the `pick`-th value (1-based,
    /// as [`Replica::conflicts`] lists them) or `value`, as one put that supersedes every
    /// concurrent value. A written value is checked like the field's own edit command checks
    /// it. Refuses when the field has no conflict (use the item's own edit command then).
    pub fn resolve(
        &mut self,
        writer: &Writer<'_>,
        target: &Place,
        field: &str,
        choice: Resolution,
    ) -> Result<Edited, EditError> {
        let me = self
            .member_of(&writer.key.device_id())
            .ok_or_else(|| EditError::NotAMember(writer.key.device_id().short()))?;
        let doc = self.doc();
        let what = target.to_string();
        let no_field = || {
            EditError::Invalid(format!(
                "{what} has no field '{field}'; `alliance status` lists the conflicts"
            ))
        };
        let mut obj = match target {
            Place::Item(id) => {
                let unknown = || EditError::UnknownItem {
                    kind: id.kind().noun(),
                    id: id.to_string(),
                };
                let collection =
                    model::map_at(doc, &ROOT, id.kind().collection()).ok_or_else(unknown)?;
                let item = model::map_at(doc, &collection, id.as_str()).ok_or_else(unknown)?;
                if id.kind() == ItemKind::Need {
                    let owner = model::string_at(doc, &item, "owner");
                    if owner != me.as_str() {
                        return Err(EditError::NotOwner {
                            id: id.to_string(),
                            owner: self.roster().name_of(&ItemId::from_doc_key(&owner)),
                        });
                    }
                }
                item
            }
            Place::Vision => return Err(no_field()),
            Place::Alliance => {
                let device_field = field.strip_prefix("devices.").is_some_and(|rest| {
                    let parts: Vec<&str> = rest.split('.').collect();
                    matches!(parts.as_slice(), [_] | [_, "member"])
                });
                let allowed = field == keys::TITLE || device_field;
                if !allowed {
                    return Err(no_field());
                }
                if device_field {
                    self.admin(writer, "settle whose device a key is")?;
                }
                ROOT
            }
        };
        let parts: Vec<&str> = field.split('.').filter(|p| !p.is_empty()).collect();
        let Some((last, path)) = parts.split_last() else {
            return Err(no_field());
        };
        for p in path {
            obj = model::map_at(doc, &obj, p).ok_or_else(no_field)?;
        }
        let all = doc.get_all(&obj, *last)?;
        if all.is_empty() {
            return Err(no_field());
        }
        if all.len() < 2 {
            return Err(EditError::Invalid(format!(
                "'{field}' of {what} has no conflict to resolve; `alliance status` lists the conflicts"
            )));
        }
        let value = match choice {
            Resolution::Pick(n) => {
                let (value, source) =
                    n.checked_sub(1).and_then(|i| all.get(i)).ok_or_else(|| {
                        EditError::Invalid(format!(
                            "--pick {n}: '{field}' of {what} has values 1 to {}",
                            all.len()
                        ))
                    })?;
                Owned::read(doc, value, source)
            }
            Resolution::Value(text) => {
                let text = crate::core::replica::non_empty("value", &text)?;
                let winner = doc.get(&obj, *last)?.map(|(v, _)| v);
                let value = match winner {
                    Some(Value::Scalar(s)) => match s.as_ref() {
                        ScalarValue::Int(_) | ScalarValue::Uint(_) => {
                            Owned::Scalar(ScalarValue::Int(text.parse::<i64>().map_err(|_| {
                                EditError::Invalid(format!(
                                    "'{field}' takes a whole number, not '{text}'"
                                ))
                            })?))
                        }
                        ScalarValue::Str(_) => Owned::Scalar(ScalarValue::Str(text.into())),
                        _ => {
                            return Err(EditError::Invalid(format!(
                                "'{field}' cannot be written by hand; use --pick"
                            )));
                        }
                    },
                    Some(Value::Object(ObjType::Text)) => Owned::Text(text),
                    _ => {
                        return Err(EditError::Invalid(format!(
                            "'{field}' holds several fields; use --pick, or resolve one of its fields"
                        )));
                    }
                };
                check_value(self, last, &value)?;
                value
            }
        };
        let summary = format!("resolved {field} of {what}: {}", excerpt(&value.render()));
        let key = last.to_string();
        let change = self.commit(writer, summary.clone(), move |tx| {
            value.write(tx, &obj, &key)?;
            Ok(())
        })?;
        Ok(Edited {
            id: match target {
                Place::Item(id) => Some(id.clone()),
                Place::Alliance | Place::Vision => None,
            },
            change,
            summary,
        })
    }
}

/// Checks a hand-written value the way the field's own edit command would.
fn check_value(replica: &Replica, field: &str, value: &Owned) -> Result<(), EditError> {
    let (text, number) = match value {
        Owned::Scalar(ScalarValue::Str(s)) => (Some(s.to_string()), None),
        Owned::Scalar(ScalarValue::Int(i)) => (None, Some(*i)),
        Owned::Text(t) => (Some(t.clone()), None),
        _ => (None, None),
    };
    match (field, text, number) {
        ("date", Some(d), _) => crate::core::document::edit::parse_date(&d).map(|_| ()),
        ("rating", _, Some(r)) if !(1..=5).contains(&r) => Err(EditError::RatingOutOfRange(r)),
        ("next_in_days", _, Some(d)) if !(1..=3660).contains(&d) => Err(EditError::Invalid(
            format!("next_in_days must be between 1 and 3660 days, not {d}"),
        )),
        ("member" | "owner" | "holder" | "created_by" | "added_by", Some(m), _) => {
            let id = ItemId::from_doc_key(&m);
            let known = replica.roster().members.iter().any(|x| x.id == id);
            if known {
                Ok(())
            } else {
                Err(EditError::Invalid(format!(
                    "'{m}' is not a member ID; `alliance member list` shows them"
                )))
            }
        }
        (_, Some(t), _) if t.chars().count() > crate::constants::MAX_TEXT_CHARS => {
            Err(EditError::TooLong {
                what: "value",
                len: t.chars().count(),
                max: crate::constants::MAX_TEXT_CHARS,
            })
        }
        _ => Ok(()),
    }
}

/// What a conflict belongs to: an item, or the alliance itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Item(ItemId),
    /// The alliance's own fields: its title, and which member each device belongs to.
    Alliance,
    /// The shared vision (its text conflicts).
    Vision,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Item(id) => write!(f, "{} {id}", id.kind().noun()),
            Place::Alliance => write!(f, "the alliance"),
            Place::Vision => write!(f, "the vision"),
        }
    }
}

/// How to settle a conflict.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Keep the n-th value (1-based, as listed).
    Pick(usize),
    /// Write this text instead (typed like the field: a number stays a number).
    Value(String),
}

/// A value read out of the document, to be written back as the one current value.
enum Owned {
    Scalar(ScalarValue),
    Text(String),
    List(Vec<Owned>),
    Map(BTreeMap<String, Owned>),
}

impl Owned {
    fn read(doc: &automerge::Automerge, value: &Value<'_>, id: &ObjId) -> Owned {
        match value {
            Value::Scalar(s) => Owned::Scalar(s.as_ref().clone()),
            Value::Object(ObjType::Text) => Owned::Text(doc.text(id).unwrap_or_default()),
            Value::Object(ObjType::List) => Owned::List(
                (0..doc.length(id))
                    .filter_map(|i| match doc.get(id, i) {
                        Ok(Some((v, vid))) => Some(Owned::read(doc, &v, &vid)),
                        _ => None,
                    })
                    .collect(),
            ),
            Value::Object(_) => Owned::Map(
                doc.keys(id)
                    .filter_map(|k| match doc.get(id, k.as_str()) {
                        Ok(Some((v, vid))) => Some((k.clone(), Owned::read(doc, &v, &vid))),
                        _ => None,
                    })
                    .collect(),
            ),
        }
    }

    fn render(&self) -> String {
        match self {
            Owned::Scalar(s) => scalar(s),
            Owned::Text(t) => t.clone(),
            Owned::List(l) => l.iter().map(Owned::render).collect::<Vec<_>>().join(", "),
            Owned::Map(m) => m
                .iter()
                .filter(|(k, _)| !BOOKKEEPING.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}: {}", v.render()))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    fn write<P: Into<automerge::Prop> + Clone>(
        &self,
        tx: &mut automerge::transaction::Transaction<'_>,
        obj: &ObjId,
        at: P,
    ) -> Result<(), automerge::AutomergeError> {
        match self {
            Owned::Scalar(s) => tx.put(obj, at, s.clone()),
            Owned::Text(t) => {
                let o = tx.put_object(obj, at, ObjType::Text)?;
                tx.splice_text(&o, 0, 0, t)
            }
            Owned::List(items) => {
                let o = tx.put_object(obj, at, ObjType::List)?;
                for (i, item) in items.iter().enumerate() {
                    item.insert(tx, &o, i)?;
                }
                Ok(())
            }
            Owned::Map(fields) => {
                let o = tx.put_object(obj, at, ObjType::Map)?;
                for (k, v) in fields {
                    v.write(tx, &o, k.as_str())?;
                }
                Ok(())
            }
        }
    }

    fn insert(
        &self,
        tx: &mut automerge::transaction::Transaction<'_>,
        list: &ObjId,
        i: usize,
    ) -> Result<(), automerge::AutomergeError> {
        match self {
            Owned::Scalar(s) => tx.insert(list, i, s.clone()),
            Owned::Text(t) => {
                let o = tx.insert_object(list, i, ObjType::Text)?;
                tx.splice_text(&o, 0, 0, t)
            }
            Owned::List(_) | Owned::Map(_) => {
                // The schema never nests these in lists; keep the shape readable.
                tx.insert(list, i, self.render().as_str())
            }
        }
    }
}
