//! The edits a person can make, as methods on [`Replica`]. Each validates its input against the
//! current document, then makes exactly one signed change whose message is a one-line summary
//! in words ("added expectation e7kq2: no screens after 8pm").

use crate::core::document::model::{put_device, put_member};
use crate::core::replica::{non_empty, written};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, transaction::Transactable};

use crate::core::document::model::{self, keys, text_digest};
use crate::core::ids::{Entropy, ItemId, ItemKind, Timestamp};
use crate::core::replica::{EditError, Replica, Writer};
use crate::core::trust::identity::DeviceId;
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

fn rating(r: i64) -> Result<i64, EditError> {
    if (1..=5).contains(&r) {
        Ok(r)
    } else {
        Err(EditError::RatingOutOfRange(r))
    }
}

impl Replica {
    fn me(&self, writer: &Writer<'_>) -> Result<ItemId, EditError> {
        let device = writer.key.device_id();
        self.member_of(&device)
            .ok_or_else(|| EditError::NotAMember(device.short()))
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

    /// This device's person, who must be an admin to `what`.
    pub(crate) fn admin(&self, writer: &Writer<'_>, what: &str) -> Result<ItemId, EditError> {
        self.admin_device(&writer.key.device_id(), what)
    }

    /// The person of `device`, who must be an admin to `what` (else a message naming whom to
    /// ask). The CLI and the page ask this before they offer what only admins may do.
    pub fn admin_device(&self, device: &DeviceId, what: &str) -> Result<ItemId, EditError> {
        let me = self
            .member_of(device)
            .ok_or_else(|| EditError::NotAMember(device.short()))?;
        let roster = self.roster();
        if roster.current(&me).is_some_and(|m| m.admin) {
            return Ok(me);
        }
        let admins: Vec<&str> = roster.admins().map(|m| m.name.as_str()).collect();
        Err(EditError::NotAllowed(format!(
            "only an admin can {what}; ask {}",
            admins.join(" or ")
        )))
    }

    /// Refuses a change that would leave the alliance without an admin.
    fn keeps_an_admin(&self, losing: &ItemId) -> Result<(), EditError> {
        let roster = self.roster();
        if roster.admins().all(|a| &a.id == losing) {
            return Err(EditError::NotAllowed(format!(
                "{} is the last admin; make another member an admin first (`alliance member admin ID`)",
                roster.name_of(losing)
            )));
        }
        Ok(())
    }

    /// `ROOT.devices`.
    fn devices_map(&self) -> Result<ObjId, EditError> {
        model::map_at(self.doc(), &ROOT, keys::DEVICES)
            .ok_or_else(|| EditError::Invalid("this alliance has no devices section".into()))
    }

    /// A current member, or `UnknownItem`.
    fn current_member(&self, id: &ItemId) -> Result<ObjId, EditError> {
        let obj = self.item(ItemKind::Member, id)?;
        if model::int_at(self.doc(), &obj, keys::REMOVED_AT).is_some() {
            return Err(EditError::Invalid(format!(
                "{} ({id}) has already left the alliance",
                self.roster().name_of(id)
            )));
        }
        Ok(obj)
    }

    /// Makes a member an admin (`admin` true) or takes it back. Only an admin may; the last
    /// admin cannot stop being one.
    pub fn set_admin(
        &mut self,
        writer: &Writer<'_>,
        id: &ItemId,
        admin: bool,
    ) -> Result<Edited, EditError> {
        self.admin(writer, "make or unmake admins")?;
        let m = self.current_member(id)?;
        let roster = self.roster();
        let name = roster.name_of(id);
        if roster.current(id).is_some_and(|x| x.admin) == admin {
            return Ok(Edited {
                id: Some(id.clone()),
                change: None,
                summary: format!(
                    "{name} {} an admin already",
                    if admin { "is" } else { "is not" }
                ),
            });
        }
        if !admin {
            self.keeps_an_admin(id)?;
        }
        let summary = if admin {
            format!("made {name} ({id}) an admin")
        } else {
            format!("{name} ({id}) is no longer an admin")
        };
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            tx.put(&m, keys::ADMIN, admin)?;
            Ok(())
        })
    }

    /// Removes a person from the alliance (an admin), or lets this device's person leave
    /// (`id` is their own). Their devices can no longer write or connect; their past changes
    /// keep their name. Final.
    pub fn remove_member(&mut self, writer: &Writer<'_>, id: &ItemId) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        if &me != id {
            self.admin(writer, "remove a person")?;
        }
        let m = self.current_member(id)?;
        self.keeps_an_admin(id)?;
        let name = self.roster().name_of(id);
        let summary = if &me == id {
            format!("{name} ({id}) left the alliance")
        } else {
            format!("removed {name} ({id}) from the alliance")
        };
        let now = writer.now;
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            tx.put(&m, keys::REMOVED_AT, now.0)?;
            tx.put(&m, keys::REMOVED_BY, me.as_str())?;
            Ok(())
        })
    }

    /// Links another device of this device's person (it may then write as that person).
    pub fn link_device(
        &mut self,
        writer: &Writer<'_>,
        device: &DeviceId,
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        if self.roster().device(&device.to_hex()).is_some() {
            return Err(EditError::Invalid(format!(
                "device {} is already in this alliance (a removed device cannot come back; make it a new key)",
                device.short()
            )));
        }
        let devices = self.devices_map()?;
        let name = self.roster().name_of(&me);
        let summary = format!("linked device {} to {name} ({me})", device.short());
        let (by, now, key) = (writer.key.device_id().to_hex(), writer.now, device.to_hex());
        self.edited(writer, Some(me.clone()), summary, move |tx| {
            put_device(tx, &devices, &key, &me, &by, now)?;
            Ok(())
        })
    }

    /// Removes a device (a lost phone): a device of the same person, or an admin, may. Final.
    pub fn remove_device(
        &mut self,
        writer: &Writer<'_>,
        device: &DeviceId,
    ) -> Result<Edited, EditError> {
        let me = self.me(writer)?;
        let key = device.to_hex();
        let roster = self.roster();
        let Some(entry) = roster.device(&key) else {
            return Err(EditError::UnknownItem {
                kind: "device",
                id: device.short(),
            });
        };
        if entry.removed.is_some() {
            return Err(EditError::Invalid(format!(
                "device {} was already removed",
                device.short()
            )));
        }
        let whose = entry.member.clone();
        if whose != me {
            self.admin(writer, "remove another person's device")?;
        }
        let devices = self.devices_map()?;
        let obj =
            model::map_at(self.doc(), &devices, &key).ok_or_else(|| EditError::UnknownItem {
                kind: "device",
                id: device.short(),
            })?;
        let summary = format!(
            "removed device {} of {} ({whose})",
            device.short(),
            roster.name_of(&whose)
        );
        let now = writer.now;
        self.edited(writer, Some(whose), summary, move |tx| {
            tx.put(&obj, keys::REMOVED_AT, now.0)?;
            tx.put(&obj, keys::REMOVED_BY, me.as_str())?;
            Ok(())
        })
    }

    /// Adds a person, and optionally one of their devices (which may then write). Only an
    /// admin may.
    pub fn add_member(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        name: &str,
        role: &str,
        device: Option<DeviceId>,
    ) -> Result<Edited, EditError> {
        let me = self.admin(writer, "add a person")?;
        let name = crate::core::document::text::check_name(name).map_err(EditError::Invalid)?;
        written("role", role)?;
        if let Some(d) = &device
            && self.roster().device(&d.to_hex()).is_some()
        {
            return Err(EditError::Invalid(format!(
                "device {} already belongs to a member",
                d.short()
            )));
        }
        let id = self.fresh_id(ItemKind::Member, entropy);
        let members = self.collection(ItemKind::Member)?;
        let devices = self.devices_map()?;
        let by = writer.key.device_id().to_hex();
        let summary = format!("added member {id}: {name} ({role})");
        let now = writer.now;
        let id2 = id.clone();
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            put_member(tx, &members, &id2, &name, role.trim(), Some(&me), now)?;
            if let Some(d) = device {
                put_device(tx, &devices, &d.to_hex(), &id2, &by, now)?;
            }
            Ok(())
        })
    }

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

    /// Step 2: plans a design session. `attendees` empty means every current member.
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
        let attendees: Vec<ItemId> = if attendees.is_empty() {
            self.roster().members.into_iter().map(|m| m.id).collect()
        } else {
            attendees.to_vec()
        };
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
                Some(if list.is_empty() {
                    self.roster().members.into_iter().map(|m| m.id).collect()
                } else {
                    list.to_vec()
                })
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
            let names: Vec<String> = list.iter().map(|m| view.name_of(m)).collect();
            what.push(format!("with {}", names.join(", ")));
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

    /// Step 3: sets the shared vision. The difference from the current text is applied as
    /// character splices, so concurrent edits by others merge instead of being overwritten.
    pub fn set_vision(&mut self, writer: &Writer<'_>, text: &str) -> Result<Edited, EditError> {
        written("vision", text)?;
        let old = self.view_vision();
        let summary = format!(
            "edited the vision: {}",
            crate::core::document::text::edit_in_words(&old, text)
        );
        self.replace_vision(writer, text, summary)
    }

    /// Step 3: brings back the vision as it was at `heads` (an earlier point of the history,
    /// named `label` in the summary) as one new signed change; the history keeps every
    /// version, the restored one and the one it replaces.
    pub fn restore_vision(
        &mut self,
        writer: &Writer<'_>,
        heads: &[automerge::ChangeHash],
        label: &str,
    ) -> Result<Edited, EditError> {
        let text = crate::core::document::text::root_text_at(self.doc(), keys::VISION, heads);
        let summary = format!(
            "restored the vision as of {label}: {}",
            crate::core::document::text::edit_in_words(&self.view_vision(), &text)
        );
        self.replace_vision(writer, &text, summary)
    }

    /// The vision as this replica has it now.
    fn view_vision(&self) -> String {
        crate::core::document::text::root_text_at(self.doc(), keys::VISION, &self.heads())
    }

    /// Replaces the vision with `text`, applied as character edits (so concurrent edits of
    /// other parts still merge).
    fn replace_vision(
        &mut self,
        writer: &Writer<'_>,
        text: &str,
        summary: String,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        let len = text.chars().count();
        if len > crate::protocol::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len,
                max: crate::protocol::MAX_TEXT_CHARS,
            });
        }
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        let text = text.to_string();
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            tx.update_text(&t, &text)?;
            Ok(())
        })
    }

    /// Step 3: one keystroke-sized edit of the vision, as an editor sends it: delete `delete`
    /// characters at `pos` and insert `insert` there, as one signed change. Positions count
    /// Unicode code points of the vision as this replica has it now.
    pub fn splice_vision(
        &mut self,
        writer: &Writer<'_>,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        written("vision", insert)?;
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        let len = existing.as_ref().map_or(0, |t| self.doc().length(t));
        if pos > len || delete > len - pos {
            return Err(EditError::Invalid(format!(
                "the vision has {len} characters: cannot delete {delete} at {pos}"
            )));
        }
        if len - delete + insert.chars().count() > crate::protocol::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len: len - delete + insert.chars().count(),
                max: crate::protocol::MAX_TEXT_CHARS,
            });
        }
        let summary = format!("edited the vision at {pos}: {}", excerpt(insert));
        let insert = insert.to_string();
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            tx.splice_text(&t, pos, delete as isize, &insert)?;
            Ok(())
        })
    }

    /// Step 3: an editor's edit of the vision made against the version it last saw
    /// (`base_heads`), as one signed change: `splices` (sorted, not overlapping) are positions
    /// in the text *at `base_heads`*.
    ///
    /// When others' changes arrived since `base_heads`, the change is made as of
    /// `base_heads` ([`Replica::commit_at`]): it is concurrent with them, as an edit made
    /// offline is, and Automerge merges it with them the usual way (an insertion goes right
    /// after the character that preceded it in the base text; a deletion removes only base
    /// characters). So when someone meanwhile rewrote the words this edit rewrites, that is a
    /// text conflict exactly as for edits made offline (docs/schema.md, "Text conflicts"),
    /// with both wordings kept; typing in other places or at the same place merges with no
    /// conflict. A page typing into the vision costs one small change per pause, like
    /// `splice_vision`.
    pub fn splice_vision_at(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        base_heads: &[automerge::ChangeHash],
        splices: &[Splice],
    ) -> Result<Edited, EditError> {
        use automerge::{ReadDoc, Value};
        self.me(writer)?;
        for s in splices {
            written("vision", &s.insert)?;
        }
        if let Some(h) = base_heads.iter().find(|h| !self.has(h)) {
            return Err(EditError::Invalid(format!(
                "the version {} of the vision is not known here; reload the page",
                &h.to_string()[..8]
            )));
        }
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        // Whether the text object there now was already there at the base (else the vision
        // did not exist yet at the base, or someone else made it concurrently: then every
        // splice must be an insertion at 0, into the text there now).
        let at_base = existing.as_ref().is_some_and(|t| {
            matches!(
                self.doc().get_at(ROOT, keys::VISION, base_heads),
                Ok(Some((Value::Object(ObjType::Text), id))) if &id == t
            )
        });
        let base_len = match &existing {
            Some(t) if at_base => self.doc().length_at(t, base_heads),
            _ => 0,
        };
        let mut end = 0;
        let mut inserted = 0;
        let mut deleted = 0;
        for s in splices {
            if s.pos < end || s.delete > base_len.saturating_sub(s.pos) || s.pos > base_len {
                return Err(EditError::Invalid(format!(
                    "the vision had {base_len} characters: cannot delete {} at {}",
                    s.delete, s.pos
                )));
            }
            end = s.pos + s.delete.max(1);
            inserted += s.insert.chars().count();
            deleted += s.delete;
        }
        let len = existing.as_ref().map_or(0, |t| self.doc().length(t));
        let new_len = (len + inserted).saturating_sub(deleted);
        if new_len > crate::protocol::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len: new_len,
                max: crate::protocol::MAX_TEXT_CHARS,
            });
        }
        if splices.iter().all(|s| s.delete == 0 && s.insert.is_empty()) {
            return Ok(Edited {
                id: None,
                change: None,
                summary: "the vision was left as it was".into(),
            });
        }
        let first = splices.first().map_or(0, |s| s.pos);
        let words: String = splices.iter().map(|s| s.insert.as_str()).collect();
        let summary = format!("edited the vision at {first}: {}", excerpt(&words));
        let mut now_heads = self.heads();
        now_heads.sort();
        let mut base_sorted = base_heads.to_vec();
        base_sorted.sort();
        let splices = splices.to_vec();
        if let Some(t) = existing
            .clone()
            .filter(|_| at_base && now_heads != base_sorted)
        {
            // Others' changes arrived since the base: made as of the base, concurrent with them.
            let change =
                self.commit_at(writer, entropy, &base_sorted, summary.clone(), move |tx| {
                    // From the end, so the base positions of the earlier splices stay put.
                    for s in splices.iter().rev() {
                        tx.splice_text(&t, s.pos, s.delete as isize, &s.insert)?;
                    }
                    Ok(())
                })?;
            return Ok(Edited {
                id: None,
                change,
                summary,
            });
        }
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            if at_base {
                for s in splices.iter().rev() {
                    tx.splice_text(&t, s.pos, s.delete as isize, &s.insert)?;
                }
            } else {
                // The base had no text here: each splice is an insertion at 0 (checked above),
                // the later ones first so they end up after the earlier ones.
                for s in splices.iter().rev() {
                    tx.splice_text(&t, 0, 0, &s.insert)?;
                }
            }
            Ok(())
        })
    }

    /// Step 3: applies an edit of the vision that was made against an older version of it
    /// (`base_heads`), such as a session in `$EDITOR` during which other edits arrived. The
    /// difference between the text at `base_heads` and `edited` is applied as splices *at
    /// `base_heads`*, so edits made meanwhile by anyone are kept, as with any concurrent edit.
    ///
    /// When nothing changed meanwhile this is [`Replica::set_vision`]. Otherwise the edit is
    /// made on a fork of the document at `base_heads` under a fresh actor of this device (a new
    /// actor tag drawn from `entropy`, so no (actor, seq) pair is ever reused), then merged.
    pub fn edit_vision_since(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        base_heads: &[automerge::ChangeHash],
        edited: &str,
    ) -> Result<Edited, EditError> {
        if self.heads() == base_heads {
            return self.set_vision(writer, edited);
        }
        self.me(writer)?;
        written("vision", edited)?;
        let mut fork = self.doc().fork_at(base_heads)?;
        let mut tag = [0u8; crate::protocol::ACTOR_TAG_LEN];
        entropy.fill(&mut tag);
        let forked_writer = Writer {
            key: writer.key,
            actor_tag: tag,
            now: writer.now,
        };
        let existing = model::text_obj_at(&fork, &ROOT, keys::VISION);
        let base = crate::core::document::text::root_text_at(self.doc(), keys::VISION, base_heads);
        let summary = format!(
            "edited the vision: {}",
            crate::core::document::text::edit_in_words(&base, edited)
        );
        let text = edited.to_string();
        let change = crate::core::replica::commit_on(
            &mut fork,
            &forked_writer,
            summary.clone(),
            move |tx| {
                let t = match existing {
                    Some(t) => t,
                    None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
                };
                tx.update_text(&t, &text)?;
                Ok(())
            },
        )?;
        if let Some(c) = &change {
            self.apply_local(c)?;
        }
        Ok(Edited {
            id: None,
            change,
            summary,
        })
    }

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

#[cfg(test)]
mod splice_tests {
    use super::Splice;
    use crate::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};

    fn splice(pos: usize, delete: usize, insert: &str) -> Splice {
        Splice {
            pos,
            delete,
            insert: insert.into(),
        }
    }

    /// Ada's replica with Ben as a member, and Ben's writer.
    fn two() -> (Replica, DeviceKey, DeviceKey) {
        let (a, b) = (DeviceKey::from_seed([1; 32]), DeviceKey::from_seed([2; 32]));
        let ada = Writer {
            key: &a,
            actor_tag: [1; 8],
            now: Timestamp(1_795_514_400),
        };
        let mut rng = SeededEntropy::new(3);
        let (mut r, _, _) = Replica::create(&ada, &mut rng, "T", "Ada", "parent").unwrap();
        r.add_member(&ada, &mut rng, "Ben", "teen", Some(b.device_id()))
            .unwrap();
        (r, a, b)
    }

    fn writer(key: &DeviceKey, tag: u8) -> Writer<'_> {
        Writer {
            key,
            actor_tag: [tag; 8],
            now: Timestamp(1_795_514_460),
        }
    }

    #[test]
    fn splices_at_the_base_merge_with_edits_made_since() {
        let (mut r, a, b) = two();
        r.set_vision(&writer(&a, 1), "Hello world").unwrap();
        let base = r.heads();
        // Ben (through the same replica, as a received change would) inserts in the middle
        // and deletes part of what Ada is about to delete.
        r.splice_vision(&writer(&b, 2), 6, 0, "big ").unwrap();
        r.splice_vision(&writer(&b, 2), 0, 1, "J").unwrap();
        assert_eq!(r.view().vision, "Jello big world");
        // Ada saw "Hello world": she appends "!" and replaces "Hello" with "Hi".
        let e = r
            .splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &base,
                &[splice(0, 5, "Hi"), splice(11, 0, "!")],
            )
            .unwrap();
        assert!(e.change.is_some());
        // Ben's "J" replaced the "H" Ada deleted too: both insertions at the start survive (the
        // newer first, as Automerge orders concurrent insertions at one place), and so does
        // his "big ".
        assert_eq!(r.view().vision, "HiJ big world!");
    }

    #[test]
    fn splices_at_the_current_heads_are_plain_splices() {
        let (mut r, a, _) = two();
        r.set_vision(&writer(&a, 1), "abc").unwrap();
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(1, 1, "XY"), splice(3, 0, "!")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "aXYc!");
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(0, 5, "")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "");
    }

    #[test]
    fn insertion_after_a_character_deleted_meanwhile_lands_where_it_was() {
        let (mut r, a, b) = two();
        r.set_vision(&writer(&a, 1), "one two three").unwrap();
        let base = r.heads();
        r.splice_vision(&writer(&b, 2), 3, 4, "").unwrap(); // "one three"
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(7, 0, "!")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "one! three");
    }

    #[test]
    fn bad_splices_and_unknown_bases_change_nothing() {
        let (mut r, a, _) = two();
        r.set_vision(&writer(&a, 1), "abc").unwrap();
        let base = r.heads();
        let before = r.heads();
        for bad in [
            vec![splice(4, 0, "x")],
            vec![splice(2, 2, "")],
            vec![splice(2, 0, "x"), splice(1, 0, "y")],
        ] {
            assert!(
                r.splice_vision_at(&writer(&a, 1), &mut SeededEntropy::new(9), &base, &bad)
                    .is_err()
            );
        }
        let unknown = [automerge::ChangeHash([7; 32])];
        assert!(
            r.splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &unknown,
                &[splice(0, 0, "x")]
            )
            .is_err()
        );
        let huge = "x".repeat(crate::protocol::MAX_TEXT_CHARS);
        assert!(
            r.splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &base,
                &[splice(0, 0, &huge)]
            )
            .is_err()
        );
        assert_eq!(r.heads(), before);
    }

    #[test]
    fn the_first_words_of_a_vision() {
        let (mut r, a, _) = two();
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(0, 0, "We")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "We");
    }
}
