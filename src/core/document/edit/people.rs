//! The people of an alliance and their devices: admins, adding and removing a person, linking
//! and removing a device.

use automerge::{ObjId, ROOT, transaction::Transactable};

use super::Edited;
use crate::core::document::model::{self, keys, put_device, put_keeper, put_member};
use crate::core::ids::{Entropy, ItemId, ItemKind};
use crate::core::replica::{EditError, Replica, Writer, written};
use crate::core::trust::identity::DeviceId;

impl Replica {
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
        } else if roster.current(id).is_some_and(|x| x.reader) {
            return Err(EditError::NotAllowed(format!(
                "{name} is a reader, who writes nothing, so cannot be an admin; invite them again as a member"
            )));
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
        if entry.keeper {
            self.admin(writer, "remove a keeper")?;
        } else if whose != me {
            self.admin(writer, "remove another person's device")?;
        }
        let devices = self.devices_map()?;
        let obj =
            model::map_at(self.doc(), &devices, &key).ok_or_else(|| EditError::UnknownItem {
                kind: "device",
                id: device.short(),
            })?;
        let summary = if entry.keeper {
            format!("removed the keeper \"{}\"", entry.name)
        } else {
            format!(
                "removed device {} of {} ({whose})",
                device.short(),
                roster.name_of(&whose)
            )
        };
        let now = writer.now;
        self.edited(writer, Some(whose), summary, move |tx| {
            tx.put(&obj, keys::REMOVED_AT, now.0)?;
            tx.put(&obj, keys::REMOVED_BY, me.as_str())?;
            Ok(())
        })
    }

    /// Adds a keeper: an always-on device of no person that holds the alliance and forwards
    /// what members sign, and authors nothing (docs/schema.md). Only an admin may.
    pub fn add_keeper(
        &mut self,
        writer: &Writer<'_>,
        device: &DeviceId,
        name: &str,
        addrs: &[std::net::SocketAddr],
    ) -> Result<Edited, EditError> {
        let me = self.admin(writer, "add a keeper")?;
        let addrs: Vec<String> = addrs
            .iter()
            .take(crate::constants::MAX_PASSED_ADDRS)
            .map(|a| a.to_string())
            .collect();
        let name = crate::core::document::text::check_name(name).map_err(EditError::Invalid)?;
        if let Some(entry) = self.roster().device(&device.to_hex()) {
            return Err(EditError::Invalid(
                if entry.keeper && entry.removed.is_none() {
                    format!("the keeper \"{}\" is in this alliance already", entry.name)
                } else {
                    format!(
                        "device {} was in this alliance before; a removed device cannot come back",
                        device.short()
                    )
                },
            ));
        }
        let devices = self.devices_map()?;
        let summary = format!("added the keeper \"{name}\"");
        let (by, now, key) = (writer.key.device_id().to_hex(), writer.now, device.to_hex());
        self.edited(writer, Some(me), summary, move |tx| {
            put_keeper(tx, &devices, &key, &name, &addrs, &by, now)?;
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
        self.add_person(writer, entropy, name, role, device, false)
    }

    /// Adds a person as [`Replica::add_member`] does; a `reader` (a grandparent, a therapist, a
    /// supervisor) syncs and sees everything and writes nothing, for good (docs/schema.md).
    pub fn add_person(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        name: &str,
        role: &str,
        device: Option<DeviceId>,
        reader: bool,
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
        let summary = if reader {
            format!("added reader {id}: {name} ({role})")
        } else {
            format!("added member {id}: {name} ({role})")
        };
        let now = writer.now;
        let id2 = id.clone();
        self.edited(writer, Some(id.clone()), summary, move |tx| {
            put_member(
                tx,
                &members,
                &id2,
                &name,
                role.trim(),
                Some(&me),
                reader,
                now,
            )?;
            if let Some(d) = device {
                put_device(tx, &devices, &d.to_hex(), &id2, &by, now)?;
            }
            Ok(())
        })
    }
}
