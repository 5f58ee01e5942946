//! The read step of every view: what a page shows, read from the alliance (under the store
//! lock, before anything is rendered) into plain data: [`Ctx`], one [`PartData`] per part,
//! [`HistoryData`]. This is where the page's views meet the store (the history index is read
//! here, and its cache may be written here); rendering ([`super::views`]) only reads the data.

use std::cell::OnceCell;

use crate::core::ItemKind;
use crate::core::conflicts::Conflict;
use crate::core::index::ChangeIndex;
use crate::core::{ItemId, Timestamp};
use crate::store::{Identity, OpenAlliance};

use super::views::{Ctx, Gone, HistoryData, Page, Part, PartData};

/// What every view is rendered from: the alliance as `open` has it, who is looking (this
/// device's `identity`), the devices `online` now.
pub(super) fn ctx(
    open: &OpenAlliance,
    identity: Option<&Identity>,
    aid: String,
    online: Vec<String>,
    now: Timestamp,
) -> Ctx {
    let replica = open.replica();
    let view = replica.view();
    let me = identity.and_then(|i| replica.member_of(&i.key.device_id()));
    let reader = me
        .as_ref()
        .and_then(|m| view.current(m))
        .is_some_and(|m| m.reader);
    // This device out of the alliance, as its replica knows (a removed device may never hear
    // of its removal: nobody sends to it any more).
    let gone = identity.and_then(|i| {
        let d = view.device(&i.key.device_id().to_hex())?;
        let person = view.member(&d.member)?;
        match (&person.removed, &d.removed) {
            (Some(r), _) if r.by == person.id => Some(Gone::Left(r.at)),
            (Some(r), _) => Some(Gone::Removed {
                by: view.name_of(&r.by),
                at: r.at,
            }),
            (None, Some(r)) => Some(Gone::DeviceRemoved {
                by: view.name_of(&r.by),
                at: r.at,
            }),
            (None, None) => None,
        }
    });
    Ctx {
        gone,
        view,
        heads: replica.heads().iter().map(ToString::to_string).collect(),
        me,
        reader,
        reminders: false,
        device: identity
            .map(|i| i.key.device_id().to_hex())
            .unwrap_or_default(),
        now,
        aid,
        online,
    }
}

/// Reads parts of one alliance, the history index at most once.
struct Reader<'a> {
    open: &'a OpenAlliance,
    ctx: &'a Ctx,
    index: OnceCell<ChangeIndex>,
}

impl<'a> Reader<'a> {
    fn new(open: &'a OpenAlliance, ctx: &'a Ctx) -> Self {
        Reader {
            open,
            ctx,
            index: OnceCell::new(),
        }
    }

    fn index(&self) -> &ChangeIndex {
        self.index.get_or_init(|| self.open.change_index())
    }

    fn conflicts(&self, which: impl Fn(&Conflict) -> bool) -> Vec<Conflict> {
        self.open
            .replica()
            .conflicts(Some(self.index()))
            .into_iter()
            .filter(which)
            .collect()
    }

    fn part(&self, part: Part) -> PartData {
        let (open, c) = (self.open, self.ctx);
        match part {
            Part::Status => PartData::Status(c.me.as_ref().map(|me| {
                crate::device::steps::status(open, me, c.now)
                    .map(Box::new)
                    .map_err(|e| e.message())
            })),
            // Never marked: nothing to compare with (the whole history is new here).
            Part::Changes => PartData::Changes(
                open.seen()
                    .ok()
                    .and_then(|s| s.heads())
                    .map(|before| open.replica().diff(self.index(), &before)),
            ),
            // In the order they were written: where each need's first change is in the history
            // (a need written in the same second as another still comes after it).
            Part::Needs => {
                let index = self.index();
                let mut order: Vec<(usize, ItemId)> = c
                    .view
                    .needs
                    .iter()
                    .map(|n| {
                        let touch = crate::core::index::Touch::Item(n.id.clone());
                        let at = index
                            .touching(&touch)
                            .next()
                            .and_then(|e| index.position(&e.hash))
                            .unwrap_or(usize::MAX);
                        (at, n.id.clone())
                    })
                    .collect();
                order.sort();
                PartData::Needs(order.into_iter().map(|(_, id)| id).collect())
            }
            Part::Plan => PartData::Plan(
                self.conflicts(|cf| cf.item.as_ref().is_some_and(|i| i.kind() == ItemKind::Plan)),
            ),
            Part::VisionConflicts => {
                PartData::VisionConflicts(self.conflicts(|cf| cf.is_text() && cf.item.is_none()))
            }
            Part::Blame => PartData::Blame(open.replica().blame_vision(self.index())),
            Part::Expectations => PartData::Expectations,
            Part::Checkins => PartData::Checkins,
            Part::Devices => PartData::Devices(
                crate::device::steps::devices(open, Some(&c.device)).unwrap_or_default(),
            ),
            Part::Members => PartData::Members,
            Part::Keepers => PartData::Keepers(
                c.me.as_ref()
                    .and_then(|me| crate::device::steps::keepers(open, me).ok())
                    .unwrap_or_default(),
                c.me.as_ref()
                    .and_then(|me| c.view.current(me))
                    .is_some_and(|m| m.admin),
            ),
            Part::Invites => PartData::Invites(
                crate::device::steps::invites(open)
                    .map(|i| i.invites)
                    .unwrap_or_default(),
            ),
        }
    }
}

/// The data of one live part.
pub(super) fn part(open: &OpenAlliance, ctx: &Ctx, part: Part) -> PartData {
    Reader::new(open, ctx).part(part)
}

/// The data of every live part of `page`, in order.
pub(super) fn parts(open: &OpenAlliance, ctx: &Ctx, page: Page) -> Vec<PartData> {
    let reader = Reader::new(open, ctx);
    page.parts().iter().map(|p| reader.part(*p)).collect()
}

/// Every version of the item `id`, and its unresolved conflicts.
pub(super) fn history(open: &OpenAlliance, ctx: &Ctx, id: ItemId) -> HistoryData {
    let reader = Reader::new(open, ctx);
    let versions = open.replica().history(reader.index(), &id);
    let conflicts = reader.conflicts(|cf| cf.item.as_ref() == Some(&id));
    HistoryData {
        id,
        versions,
        conflicts,
    }
}
