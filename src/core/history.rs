//! Per-item history: every version of one item, field by field, with who made each change.
//!
//! The history is replayed in causal order: after each change, the item is read *as of the
//! heads of everything replayed so far* and compared with the previous reading. A change that
//! altered the item is one version, attributed to the change's author only if the change
//! verifies (see [`Replica::log`]). No I/O; the cost is one read of the item per change of the
//! history (an index is left for the performance work).

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;

use crate::core::ids::{ItemId, Timestamp};
use crate::core::replica::Replica;

/// One field that changed: its path inside the item, before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One version of an item.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub change: String,
    /// The author's name, or `unknown` when the change does not verify.
    pub author: String,
    pub device: String,
    pub time: Timestamp,
    pub verified: bool,
    pub fields: Vec<FieldChange>,
}

/// Every field of the item `id`, flattened (`text`, `agreements.m4k2x.text_digest`, ...), as of
/// `heads`; empty when the item does not exist there.
pub fn item_at(
    doc: &automerge::Automerge,
    id: &ItemId,
    heads: &[ChangeHash],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(collection) = map_at(doc, &ROOT, id.kind().collection(), heads) else {
        return out;
    };
    if let Some(item) = map_at(doc, &collection, id.as_str(), heads) {
        flatten(doc, &item, heads, "", &mut out);
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

fn scalar(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Null => "null".into(),
        other => other.to_string(),
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
                out.insert(path, scalar(&s));
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

impl Replica {
    /// Every version of one item, oldest first. Empty when the item never existed.
    pub fn history(&self, id: &ItemId) -> Vec<Version> {
        let log: HashMap<String, crate::core::replica::LogEntry> = self
            .log()
            .into_iter()
            .map(|e| (e.hash.clone(), e))
            .collect();
        let mut heads: HashSet<ChangeHash> = HashSet::new();
        let mut previous = BTreeMap::new();
        let mut versions = Vec::new();
        for meta in self.doc().get_changes_meta(&[]) {
            for d in &meta.deps {
                heads.remove(d);
            }
            heads.insert(meta.hash);
            let mut now_heads: Vec<ChangeHash> = heads.iter().copied().collect();
            now_heads.sort();
            let current = item_at(self.doc(), id, &now_heads);
            if current == previous {
                continue;
            }
            let mut fields = Vec::new();
            for key in previous
                .keys()
                .chain(current.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let (old, new) = (previous.get(key), current.get(key));
                if old != new {
                    fields.push(FieldChange {
                        field: key.clone(),
                        old: old.cloned(),
                        new: new.cloned(),
                    });
                }
            }
            let entry = log.get(&meta.hash.to_string());
            versions.push(Version {
                change: meta.hash.to_string(),
                author: entry
                    .map(|e| e.author.clone())
                    .unwrap_or_else(|| "unknown".into()),
                device: entry.map(|e| e.device.clone()).unwrap_or_default(),
                time: Timestamp(meta.timestamp),
                verified: entry.is_some_and(|e| e.verified),
                fields,
            });
            previous = current;
        }
        versions
    }
}
