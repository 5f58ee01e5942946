//! The edits a person can make, as methods on [`Replica`]. Each validates its input against the
//! current document, then makes exactly one signed change whose message is a one-line summary
//! in words ("added expectation e7kq2: no screens after 8pm").
//!
//! One file per step: `needs` (step 1), `plan` (step 2), `vision` and `expectations` (step 3),
//! `checkins` (step 4); `people` for members and devices. Here: what they share
//! (the result of an edit, the summaries' excerpts, dates, and the helpers every writer uses).

mod checkins;
mod expectations;
mod needs;
mod people;
mod plan;
mod vision;

use automerge::{ObjId, ROOT};

use crate::core::document::model;
use crate::core::ids::{ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer};
use crate::core::trust::signed::{SignedChange, Verified};

/// The result of an edit: the ID it created or touched, and the signed change to persist
/// (`None` when the edit changed nothing, e.g. setting the vision to its current text).
#[derive(Debug)]
pub struct Edited {
    pub id: Option<ItemId>,
    pub change: Option<SignedChange<Verified>>,
    pub summary: String,
}

/// One splice of a text: delete `delete` characters at `pos`, then insert `insert` there.
/// Positions count Unicode code points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Splice {
    pub pos: usize,
    pub delete: usize,
    pub insert: String,
}

/// A proposed check-in.
#[derive(Debug, Clone)]
pub struct NewCheckIn {
    /// `YYYY-MM-DD`; validated.
    pub date: String,
    pub rating: i64,
    pub reflection: String,
    pub proposed_changes: Vec<String>,
    pub next_in_days: u32,
}

/// Shortens `s` to one line of at most 60 characters, for change summaries.
pub fn excerpt(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(60).collect();
    if line.chars().count() > 60 || s.trim().lines().count() > 1 {
        out.push('…');
    }
    out
}

/// Checks a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<String, EditError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt)
        .map(|_| s.trim().to_string())
        .map_err(|_| EditError::Invalid(format!("'{s}' is not a date of the form YYYY-MM-DD")))
}

impl Replica {
    /// This device's person, who writes: a reader writes nothing (docs/schema.md), and hears
    /// so before anything is signed.
    fn me(&self, writer: &Writer<'_>) -> Result<ItemId, EditError> {
        let device = writer.key.device_id();
        let me = self
            .member_of(&device)
            .ok_or_else(|| EditError::NotAMember(device.short()))?;
        self.writes(&me)?;
        Ok(me)
    }

    /// Refuses a reader: they sync and see everything and write nothing. The message says
    /// whom to ask.
    pub fn writes(&self, member: &ItemId) -> Result<(), EditError> {
        let roster = self.roster();
        if !roster.current(member).is_some_and(|m| m.reader) {
            return Ok(());
        }
        let admins: Vec<&str> = roster.admins().map(|m| m.name.as_str()).collect();
        Err(EditError::NotAllowed(format!(
            "you are a reader here: you see everything and write nothing; to write, ask {} for a member's invite",
            admins.join(" or ")
        )))
    }

    /// The map object of an existing item, or `UnknownItem`.
    fn item(&self, kind: ItemKind, id: &ItemId) -> Result<ObjId, EditError> {
        let unknown = || EditError::UnknownItem {
            kind: kind.noun(),
            id: id.to_string(),
        };
        if id.kind() != kind {
            return Err(unknown());
        }
        let collection = model::map_at(self.doc(), &ROOT, kind.collection()).ok_or_else(unknown)?;
        model::map_at(self.doc(), &collection, id.as_str()).ok_or_else(unknown)
    }

    fn collection(&self, kind: ItemKind) -> Result<ObjId, EditError> {
        model::map_at(self.doc(), &ROOT, kind.collection()).ok_or_else(|| {
            EditError::Invalid(format!(
                "this alliance has no {} section; was it made by a newer version?",
                kind.collection()
            ))
        })
    }

    fn check_members(&self, ids: &[ItemId]) -> Result<(), EditError> {
        for id in ids {
            self.item(ItemKind::Member, id)?;
        }
        Ok(())
    }

    fn edited(
        &mut self,
        writer: &Writer<'_>,
        id: Option<ItemId>,
        summary: String,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), EditError>,
    ) -> Result<Edited, EditError> {
        let change = self.commit(writer, summary.clone(), f)?;
        Ok(Edited {
            id,
            change,
            summary,
        })
    }
}
