//! Step 1: needs, each in its owner's own words; only the owner edits or removes one.

use automerge::{ObjId, ObjType, transaction::Transactable};

use super::{Edited, excerpt};
use crate::core::document::model;
use crate::core::ids::{Entropy, ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer, non_empty};

impl Replica {
    /// Step 1: adds a need of this device's person, in their own words.
    pub fn add_need(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        text: &str,
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let text = non_empty("need", text)?;
        let needs = self.collection(ItemKind::Need)?;
        let id = self.fresh_id(ItemKind::Need, entropy);
        let summary = format!("added need {id}: {}", excerpt(&text));
        let (id2, now) = (id.clone(), writer.now);
        self.edited(writer, Some(id), summary, move |tx| {
            let n = tx.put_object(&needs, id2.as_str(), ObjType::Map)?;
            tx.put(&n, "owner", me.as_str())?;
            let t = tx.put_object(&n, "text", ObjType::Text)?;
            tx.splice_text(&t, 0, 0, &text)?;
            tx.put(&n, "created_at", now.0)?;
            Ok(())
        })
    }

    fn owned_need(&self, writer: &Writer<'_>, id: &ItemId) -> Result<ObjId, EditError> {
        let me = self.me(writer)?;
        let need = self.item(ItemKind::Need, id)?;
        let owner = model::string_at(self.doc(), &need, "owner");
        if owner != me.as_str() {
            let view = self.roster();
            return Err(EditError::NotOwner {
                id: id.to_string(),
                owner: view.name_of(&ItemId::from_doc_key(&owner)),
            });
        }
        Ok(need)
    }

    /// Rewrites a need (only its owner may); applied as text splices.
    pub fn edit_need(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        text: &str,
    ) -> Result<Edited, EditError> {
        let need = self.owned_need(writer, id)?;
        let text = non_empty("need", text)?;
        let summary = format!("edited need {id}: {}", excerpt(&text));
        let existing = model::text_obj_at(self.doc(), &need, "text");
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(&need, "text", ObjType::Text)?,
            };
            tx.update_text(&t, &text)?;
            Ok(())
        })
    }

    /// Removes a need (only its owner may). The history keeps it.
    pub fn remove_need(&mut self, writer: &Writer<'_>, id: &ItemId) -> Result<Edited, EditError> {
        self.owned_need(writer, id)?;
        let needs = self.collection(ItemKind::Need)?;
        let need = self.item(ItemKind::Need, id)?;
        let text = model::string_at(self.doc(), &need, "text");
        let summary = format!("removed need {id}: {}", excerpt(&text));
        let id2 = id.clone();
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            tx.delete(&needs, id2.as_str())?;
            Ok(())
        })
    }
}
