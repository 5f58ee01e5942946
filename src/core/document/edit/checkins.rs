//! Step 4: check-ins, with each person's reflection and rating.

use automerge::{ObjId, ObjType, ReadDoc, transaction::Transactable};

use super::{Edited, NewCheckIn, parse_date};
use crate::core::document::model;
use crate::core::ids::{Entropy, ItemId, ItemKind, Timestamp};
use crate::core::replica::{EditError, Replica, Writer, non_empty, written};

fn rating(r: i64) -> Result<i64, EditError> {
    if (1..=5).contains(&r) {
        Ok(r)
    } else {
        Err(EditError::RatingOutOfRange(r))
    }
}

impl Replica {
    /// Step 4: records a check-in with this person's reflection and rating.
    pub fn add_checkin(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        new: NewCheckIn,
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let date = parse_date(&new.date)?;
        let r = rating(new.rating)?;
        written("reflection", &new.reflection)?;
        let reflection = new.reflection.trim().to_string();
        let proposals: Vec<String> = new
            .proposed_changes
            .iter()
            .map(|p| non_empty("proposed change", p))
            .collect::<Result<_, _>>()?;
        let checkins = self.collection(ItemKind::CheckIn)?;
        let id = self.fresh_id(ItemKind::CheckIn, entropy);
        let summary = format!("added check-in {id} for {date}: rated {r}/5");
        let (id2, now) = (id.clone(), writer.now);
        self.edited(writer, Some(id), summary, move |tx| {
            let c = tx.put_object(&checkins, id2.as_str(), ObjType::Map)?;
            tx.put(&c, "date", date.as_str())?;
            let refl = tx.put_object(&c, "reflections", ObjType::Map)?;
            put_reflection(tx, &refl, &me, &reflection, r, now)?;
            let list = tx.put_object(&c, "proposed_changes", ObjType::List)?;
            for (i, p) in proposals.iter().enumerate() {
                tx.insert(&list, i, p.as_str())?;
            }
            tx.put(&c, "next_in_days", i64::from(new.next_in_days))?;
            tx.put(&c, "created_by", me.as_str())?;
            tx.put(&c, "created_at", now.0)?;
            Ok(())
        })
    }

    /// Changes a check-in's date or the cadence it set (days until the next one).
    pub fn edit_checkin(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        date: Option<&str>,
        next_in_days: Option<u32>,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        let c = self.item(ItemKind::CheckIn, id)?;
        let date = date.map(parse_date).transpose()?;
        if date.is_none() && next_in_days.is_none() {
            return Err(EditError::Invalid(
                "say what to change: --date or --next-in-days".into(),
            ));
        }
        let doc = self.doc();
        let same_date = date
            .as_ref()
            .is_none_or(|d| model::string_at(doc, &c, "date") == *d);
        let same_days = next_in_days
            .is_none_or(|n| model::int_at(doc, &c, "next_in_days") == Some(i64::from(n)));
        if same_date && same_days {
            return Ok(Edited {
                id: Some(id.clone()),
                change: None,
                summary: format!("check-in {id} already reads like that"),
            });
        }
        let mut what = Vec::new();
        if let Some(d) = date.as_ref().filter(|_| !same_date) {
            what.push(format!("date {d}"));
        }
        if let Some(n) = next_in_days.filter(|_| !same_days) {
            what.push(format!("next in {n} days"));
        }
        let summary = format!("changed check-in {id}: {}", what.join(", "));
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            if let Some(d) = date.filter(|_| !same_date) {
                tx.put(&c, "date", d.as_str())?;
            }
            if let Some(n) = next_in_days.filter(|_| !same_days) {
                tx.put(&c, "next_in_days", i64::from(n))?;
            }
            Ok(())
        })
    }

    /// Adds (or replaces) this person's reflection in an existing check-in.
    pub fn reflect(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        rating_value: i64,
        text: &str,
        proposed_changes: &[String],
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let c = self.item(ItemKind::CheckIn, id)?;
        let r = rating(rating_value)?;
        written("reflection", text)?;
        let proposals: Vec<String> = proposed_changes
            .iter()
            .map(|p| non_empty("proposed change", p))
            .collect::<Result<_, _>>()?;
        let refl = model::map_at(self.doc(), &c, "reflections");
        let list = match self.doc().get(&c, "proposed_changes") {
            Ok(Some((automerge::Value::Object(ObjType::List), l))) => Some(l),
            _ => None,
        };
        let name = self.roster().name_of(&me);
        let summary = format!("{name} reflected on check-in {id}: rated {r}/5");
        let (text, now) = (text.trim().to_string(), writer.now);
        let start = list.as_ref().map(|l| self.doc().length(l)).unwrap_or(0);
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            let refl = match refl {
                Some(r) => r,
                None => tx.put_object(&c, "reflections", ObjType::Map)?,
            };
            put_reflection(tx, &refl, &me, &text, r, now)?;
            if !proposals.is_empty() {
                let list = match list {
                    Some(l) => l,
                    None => tx.put_object(&c, "proposed_changes", ObjType::List)?,
                };
                for (i, p) in proposals.iter().enumerate() {
                    tx.insert(&list, start + i, p.as_str())?;
                }
            }
            Ok(())
        })
    }
}

fn put_reflection(
    tx: &mut automerge::transaction::Transaction<'_>,
    reflections: &ObjId,
    member: &ItemId,
    text: &str,
    rating: i64,
    now: Timestamp,
) -> Result<(), automerge::AutomergeError> {
    let r = tx.put_object(reflections, member.as_str(), ObjType::Map)?;
    let t = tx.put_object(&r, "text", ObjType::Text)?;
    tx.splice_text(&t, 0, 0, text)?;
    tx.put(&r, "rating", rating)?;
    tx.put(&r, "at", now.0)?;
    Ok(())
}
