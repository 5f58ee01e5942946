//! Step 3: expectations, agreed to by each person on their current text, and retired.

use automerge::{ObjId, ObjType, ScalarValue, transaction::Transactable};

use super::{Edited, excerpt};
use crate::core::document::model::{self, text_digest};
use crate::core::ids::{Entropy, ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer, non_empty};

impl Replica {
    /// Step 3: proposes an expectation. `holder` defaults to this device's person; `of` empty
    /// means everyone.
    pub fn add_expectation(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        text: &str,
        holder: Option<&ItemId>,
        of: &[ItemId],
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let text = non_empty("expectation", text)?;
        let holder = holder.cloned().unwrap_or_else(|| me.clone());
        self.check_members(std::slice::from_ref(&holder))?;
        self.check_members(of)?;
        let expectations = self.collection(ItemKind::Expectation)?;
        let id = self.fresh_id(ItemKind::Expectation, entropy);
        let summary = format!("added expectation {id}: {}", excerpt(&text));
        let (id2, now, of) = (id.clone(), writer.now, of.to_vec());
        self.edited(writer, Some(id), summary, move |tx| {
            let e = tx.put_object(&expectations, id2.as_str(), ObjType::Map)?;
            let t = tx.put_object(&e, "text", ObjType::Text)?;
            tx.splice_text(&t, 0, 0, &text)?;
            tx.put(&e, "holder", holder.as_str())?;
            let list = tx.put_object(&e, "of", ObjType::List)?;
            for (i, m) in of.iter().enumerate() {
                tx.insert(&list, i, m.as_str())?;
            }
            tx.put_object(&e, "agreements", ObjType::Map)?;
            tx.put(&e, "retired_at", ScalarValue::Null)?;
            tx.put(&e, "created_by", me.as_str())?;
            tx.put(&e, "created_at", now.0)?;
            Ok(())
        })
    }

    fn live_expectation(&self, id: &ItemId) -> Result<ObjId, EditError> {
        let e = self.item(ItemKind::Expectation, id)?;
        if model::int_at(self.doc(), &e, "retired_at").is_some() {
            return Err(EditError::Invalid(format!(
                "expectation {id} is retired; add a new one instead"
            )));
        }
        Ok(e)
    }

    /// Rewrites an expectation's text as splices. Agreements to the old text become stale.
    pub fn edit_expectation(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        text: &str,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        let e = self.live_expectation(id)?;
        let text = non_empty("expectation", text)?;
        let existing = model::text_obj_at(self.doc(), &e, "text");
        let summary = format!("edited expectation {id}: {}", excerpt(&text));
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(&e, "text", ObjType::Text)?,
            };
            tx.update_text(&t, &text)?;
            Ok(())
        })
    }

    /// Records this person's agreement to the current text of an expectation.
    pub fn agree(&mut self, writer: &Writer<'_>, id: &ItemId) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let e = self.live_expectation(id)?;
        let text = model::string_at(self.doc(), &e, "text");
        let digest = text_digest(&text);
        let agreements = model::map_at(self.doc(), &e, "agreements");
        if let Some(a) = &agreements
            && let Some(mine) = model::map_at(self.doc(), a, me.as_str())
            && model::string_at(self.doc(), &mine, "text_digest") == digest
        {
            return Ok(Edited {
                id: Some(id.clone()),
                change: None,
                summary: format!("already agreed to expectation {id}"),
            });
        }
        let name = self.roster().name_of(&me);
        let summary = format!("{name} agreed to expectation {id}: {}", excerpt(&text));
        let (now, device) = (writer.now, writer.key.device_id().to_hex());
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            let a = match agreements {
                Some(a) => a,
                None => tx.put_object(&e, "agreements", ObjType::Map)?,
            };
            let mine = tx.put_object(&a, me.as_str(), ObjType::Map)?;
            tx.put(&mine, "text_digest", digest.as_str())?;
            tx.put(&mine, "at", now.0)?;
            tx.put(&mine, "device", device.as_str())?;
            Ok(())
        })
    }

    /// Retires an expectation: it stays in the history but no longer applies.
    pub fn retire(&mut self, writer: &Writer<'_>, id: &ItemId) -> Result<Edited, EditError> {
        self.me(writer)?;
        let e = self.live_expectation(id)?;
        let text = model::string_at(self.doc(), &e, "text");
        let summary = format!("retired expectation {id}: {}", excerpt(&text));
        let now = writer.now;
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            tx.put(&e, "retired_at", now.0)?;
            Ok(())
        })
    }
}
