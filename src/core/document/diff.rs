//! What changed in the alliance between two points of its history, in words, grouped by step.
//!
//! The [`ChangeIndex`] says which items the changes after the earlier point touched; only those
//! items are read, at both points, and compared field by field. Authors are the verified
//! authors of those changes. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use automerge::ChangeHash;
use serde::Serialize;

use crate::core::document::history::{Attributor, FieldChange, field_changes, item_at};
use crate::core::document::index::{ChangeIndex, Touch};
use crate::core::document::model::keys;
use crate::core::ids::{ItemId, ItemKind};
use crate::core::replica::Replica;

/// The alliance's steps, in the order a diff lists them.
pub const STEPS: [&str; 7] = [
    "Alliance",
    "Members",
    "Needs",
    "Plan",
    "Vision",
    "Expectations",
    "Check-ins",
];

fn step_of(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Member => STEPS[1],
        ItemKind::Need => STEPS[2],
        ItemKind::Plan => STEPS[3],
        ItemKind::Expectation => STEPS[5],
        ItemKind::CheckIn => STEPS[6],
    }
}

/// The changes between two points, by step.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// The earlier point's heads (empty: the beginning).
    pub from: Vec<String>,
    /// The later point's heads (the replica's heads now).
    pub to: Vec<String>,
    /// How many changes lie between the two points.
    pub changes: usize,
    /// Only steps with something changed, in the order of [`STEPS`].
    pub steps: Vec<StepDiff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepDiff {
    pub step: &'static str,
    pub items: Vec<ItemDiff>,
}

/// How one item (or the vision) changed.
#[derive(Debug, Clone, Serialize)]
pub struct ItemDiff {
    /// `None` for the vision and the alliance's title.
    pub item: Option<ItemId>,
    /// `added`, `changed` or `removed`.
    pub what: &'static str,
    /// What the item is, in a few words (a need's text, a member's name, a session's date).
    pub title: String,
    pub fields: Vec<FieldChange>,
    /// The verified authors of the changes, by name; `unknown` stands for changes that did
    /// not verify.
    pub authors: Vec<String>,
    /// The changes that touched the item, oldest first.
    pub changes: Vec<String>,
}

fn title(kind: ItemKind, fields: &BTreeMap<String, String>) -> String {
    let key = match kind {
        ItemKind::Member => "name",
        ItemKind::Need | ItemKind::Expectation => "text",
        ItemKind::Plan => "when",
        ItemKind::CheckIn => "date",
    };
    let text = fields.get(key).cloned().unwrap_or_default();
    crate::core::document::edit::excerpt(&text)
}

/// How one of the alliance's own fields (the vision, the title) changed between two points.
fn root_field_diff(
    doc: &automerge::Automerge,
    key: &str,
    before: &[ChangeHash],
    now: &[ChangeHash],
    view: &crate::core::AllianceView,
) -> Option<ItemDiff> {
    let read = |heads: &[ChangeHash]| crate::core::document::text::root_text_at(doc, key, heads);
    let (old, new) = (read(before), read(now));
    if old == new {
        return None;
    }
    let o = BTreeMap::from([(key.to_string(), old.clone())]);
    let n = BTreeMap::from([(key.to_string(), new.clone())]);
    Some(ItemDiff {
        item: None,
        what: if old.is_empty() { "added" } else { "changed" },
        title: crate::core::document::edit::excerpt(&new),
        fields: field_changes(ItemKind::Need, &o, &n, view),
        authors: Vec::new(),
        changes: Vec::new(),
    })
}

impl Replica {
    /// What changed from `before` (heads of an earlier point; empty for the beginning) to now.
    pub fn diff(&self, index: &ChangeIndex, before: &[ChangeHash]) -> Diff {
        self.prime_vouchers(index);
        let view = self.roster();
        let mut attributor = Attributor::new(self, &view);
        let after = index.after(before);
        attributor.prepare(&after.iter().map(|e| e.hash).collect::<Vec<_>>());
        let mut touched: BTreeMap<Touch, Vec<ChangeHash>> = BTreeMap::new();
        for e in &after {
            for t in &e.touched {
                touched.entry(t.clone()).or_default().push(e.hash);
            }
        }
        let now = self.heads();
        let mut by_step: BTreeMap<usize, Vec<ItemDiff>> = BTreeMap::new();
        for (touch, hashes) in &touched {
            let (step, diff) = match touch {
                Touch::Item(id) => {
                    let old = if before.is_empty() {
                        BTreeMap::new()
                    } else {
                        item_at(self.doc(), id, before)
                    };
                    let new = item_at(self.doc(), id, &now);
                    let fields = field_changes(id.kind(), &old, &new, &view);
                    if fields.is_empty() {
                        continue;
                    }
                    let what = match (old.is_empty(), new.is_empty()) {
                        (true, _) => "added",
                        (false, true) => "removed",
                        (false, false) => "changed",
                    };
                    let shown = if new.is_empty() { &old } else { &new };
                    (
                        step_of(id.kind()),
                        ItemDiff {
                            item: Some(id.clone()),
                            what,
                            title: title(id.kind(), shown),
                            fields,
                            authors: Vec::new(),
                            changes: Vec::new(),
                        },
                    )
                }
                Touch::Vision => {
                    match root_field_diff(self.doc(), keys::VISION, before, &now, &view) {
                        Some(d) => (STEPS[4], d),
                        None => continue,
                    }
                }
                Touch::Alliance => {
                    match root_field_diff(self.doc(), keys::TITLE, before, &now, &view) {
                        Some(d) => (STEPS[0], d),
                        None => continue,
                    }
                }
            };
            let mut diff = diff;
            let mut authors = BTreeSet::new();
            for h in hashes {
                if let Some(a) = attributor.attribute(h) {
                    authors.insert(a.author.clone());
                    diff.changes.push(a.hash.clone());
                }
            }
            diff.authors = authors.into_iter().collect();
            let position = STEPS.iter().position(|s| *s == step).unwrap_or(0);
            by_step.entry(position).or_default().push(diff);
        }
        Diff {
            from: before.iter().map(ToString::to_string).collect(),
            to: now.iter().map(ToString::to_string).collect(),
            changes: after.len(),
            steps: by_step
                .into_iter()
                .map(|(i, items)| StepDiff {
                    step: STEPS[i],
                    items,
                })
                .collect(),
        }
    }
}
