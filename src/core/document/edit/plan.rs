//! Step 2: design sessions (when, where or how, the agenda, who attends).

use automerge::{ObjType, transaction::Transactable};

use super::{Edited, excerpt};
use crate::core::document::model;
use crate::core::ids::{Entropy, ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer, non_empty, written};

impl Replica {
    /// Step 2: plans a design session. `attendees` empty means everyone: it is stored empty,
    /// so it stays everyone when people join later.
    pub fn add_plan(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        when: &str,
        how: &str,
        agenda: &str,
        attendees: &[ItemId],
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let when = non_empty("when", when)?;
        let how = non_empty("where or how", how)?;
        written("agenda", agenda)?;
        self.check_members(attendees)?;
        let attendees = attendees.to_vec();
        let plan = self.collection(ItemKind::Plan)?;
        let id = self.fresh_id(ItemKind::Plan, entropy);
        let summary = format!("planned design session {id}: {when}, {}", excerpt(&how));
        let (id2, now, agenda) = (id.clone(), writer.now, agenda.trim().to_string());
        self.edited(writer, Some(id), summary, move |tx| {
            let p = tx.put_object(&plan, id2.as_str(), ObjType::Map)?;
            tx.put(&p, "when", when.as_str())?;
            tx.put(&p, "how", how.as_str())?;
            let a = tx.put_object(&p, "agenda", ObjType::Text)?;
            tx.splice_text(&a, 0, 0, &agenda)?;
            let list = tx.put_object(&p, "attendees", ObjType::List)?;
            for (i, m) in attendees.iter().enumerate() {
                tx.insert(&list, i, m.as_str())?;
            }
            tx.put(&p, "created_by", me.as_str())?;
            tx.put(&p, "created_at", now.0)?;
            Ok(())
        })
    }

    /// Step 2: reschedules or changes a design session. Each given field is written on its
    /// own (the agenda as text splices), so two people changing different fields both keep
    /// their edit, and two people changing the same field concurrently make a conflict that
    /// `alliance status` shows and `alliance resolve` settles.
    pub fn edit_plan(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        when: Option<&str>,
        how: Option<&str>,
        agenda: Option<&str>,
    ) -> Result<Edited, EditError> {
        self.edit_plan_with(writer, id, when, how, agenda, None)
    }

    /// [`Replica::edit_plan`], and who attends (`attendees`: the whole new list; empty means
    /// every member), all in one change.
    pub fn edit_plan_with(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        when: Option<&str>,
        how: Option<&str>,
        agenda: Option<&str>,
        attendees: Option<&[ItemId]>,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        let p = self.item(ItemKind::Plan, id)?;
        let when = when.map(|w| non_empty("when", w)).transpose()?;
        let how = how.map(|h| non_empty("where or how", h)).transpose()?;
        if let Some(a) = agenda {
            written("agenda", a)?;
        }
        let agenda = agenda.map(|a| a.trim().to_string());
        let attendees: Option<Vec<ItemId>> = match attendees {
            None => None,
            Some(list) => {
                self.check_members(list)?;
                // Empty is everyone, stored as such (people who join later come too).
                Some(list.to_vec())
            }
        };
        if when.is_none() && how.is_none() && agenda.is_none() && attendees.is_none() {
            return Err(EditError::Invalid(
                "say what to change: --when, --how, --agenda or --with".into(),
            ));
        }
        let mut what = Vec::new();
        if let Some(w) = &when {
            what.push(format!("when {w}"));
        }
        if let Some(h) = &how {
            what.push(format!("how {}", excerpt(h)));
        }
        if agenda.is_some() {
            what.push("agenda".to_string());
        }
        let view = self.roster();
        if let Some(list) = &attendees {
            if list.is_empty() {
                what.push("with everyone".to_string());
            } else {
                let names: Vec<String> = list.iter().map(|m| view.name_of(m)).collect();
                what.push(format!("with {}", names.join(", ")));
            }
        }
        let current_attendees = view
            .plan
            .iter()
            .find(|s| &s.id == id)
            .map(|s| s.attendees.clone())
            .unwrap_or_default();
        let summary = format!("changed design session {id}: {}", what.join(", "));
        let doc = self.doc();
        let unchanged = when
            .as_ref()
            .is_none_or(|w| model::string_at(doc, &p, "when") == *w)
            && how
                .as_ref()
                .is_none_or(|h| model::string_at(doc, &p, "how") == *h)
            && agenda
                .as_ref()
                .is_none_or(|a| model::string_at(doc, &p, "agenda") == *a)
            && attendees.as_ref().is_none_or(|a| *a == current_attendees);
        if unchanged {
            return Ok(Edited {
                id: Some(id.clone()),
                change: None,
                summary: format!("design session {id} already reads like that"),
            });
        }
        let existing = model::text_obj_at(doc, &p, "agenda");
        let current_when = model::string_at(doc, &p, "when");
        let current_how = model::string_at(doc, &p, "how");
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            if let Some(w) = when.filter(|w| *w != current_when) {
                tx.put(&p, "when", w.as_str())?;
            }
            if let Some(h) = how.filter(|h| *h != current_how) {
                tx.put(&p, "how", h.as_str())?;
            }
            if let Some(list) = attendees.filter(|a| *a != current_attendees) {
                let l = tx.put_object(&p, "attendees", ObjType::List)?;
                for (i, m) in list.iter().enumerate() {
                    tx.insert(&l, i, m.as_str())?;
                }
            }
            if let Some(a) = agenda {
                let t = match existing {
                    Some(t) => t,
                    None => tx.put_object(&p, "agenda", ObjType::Text)?,
                };
                tx.update_text(&t, &a)?;
            }
            Ok(())
        })
    }
}
