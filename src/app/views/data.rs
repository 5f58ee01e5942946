//! What the views are rendered from: plain data read before rendering (`app::read`), and the
//! page's views and live parts by name.

use crate::core::conflicts::Conflict;
use crate::core::history::{BlameSpan, Version};
use crate::core::invite::Invite;
use crate::core::status::Status;
use crate::core::{AllianceView, ItemId, Timestamp};
use crate::device::steps::DeviceRow;

/// What every view of an alliance is rendered from: the alliance as read, and who is looking.
pub struct Ctx {
    pub view: AllianceView,
    /// The alliance's heads (hex), as the replica lists them: the version the page is drawn at.
    pub heads: Vec<String>,
    /// This device's person, when the device is a member.
    pub me: Option<ItemId>,
    /// This device's person is a reader: they see everything and write nothing, so the page
    /// shows them no form that writes.
    pub reader: bool,
    /// Reminders are shown as desktop notifications on this computer (the page's setting).
    pub reminders: bool,
    /// This device's key (hex).
    pub device: String,
    pub now: Timestamp,
    /// The alliance's ID (hex), for links.
    pub aid: String,
    /// The devices connected right now (hex keys).
    pub online: Vec<String>,
    /// Set when this device is no longer in the alliance, as far as its replica knows.
    pub gone: Option<Gone>,
}

/// How this device came to be out of the alliance.
pub enum Gone {
    /// Its person left, on that day.
    Left(Timestamp),
    /// Its person was removed, by that person.
    Removed { by: String, at: Timestamp },
    /// This device was removed, by that person.
    DeviceRemoved { by: String, at: Timestamp },
}

impl Ctx {
    /// Whether this device's person writes here: a member who is not a reader. The forms
    /// that write are shown only then.
    pub fn writes(&self) -> bool {
        self.me.is_some() && !self.reader
    }
}

/// The page's views (one URL each, under `/a/ID/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Needs,
    Plan,
    Vision,
    Expectations,
    Checkins,
    People,
}

impl Page {
    pub const ALL: [Page; 7] = [
        Page::Overview,
        Page::Needs,
        Page::Plan,
        Page::Vision,
        Page::Expectations,
        Page::Checkins,
        Page::People,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Page::Overview => "",
            Page::Needs => "needs",
            Page::Plan => "plan",
            Page::Vision => "vision",
            Page::Expectations => "expectations",
            Page::Checkins => "checkins",
            Page::People => "people",
        }
    }

    pub fn from_slug(s: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|p| p.slug() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Page::Overview => "What needs me",
            Page::Needs => "1 · Needs",
            Page::Plan => "2 · Plan",
            Page::Vision => "3 · Vision",
            Page::Expectations => "3 · Expectations",
            Page::Checkins => "4 · Check-ins",
            Page::People => "People & invites",
        }
    }

    /// The live parts of this view, in order.
    pub fn parts(self) -> &'static [Part] {
        match self {
            Page::Overview => &[Part::Status, Part::Changes],
            Page::Needs => &[Part::Needs],
            Page::Plan => &[Part::Plan],
            // The blame part is inside the editor's view, drawn when opened.
            Page::Vision => &[Part::VisionConflicts],
            Page::Expectations => &[Part::Expectations],
            Page::Checkins => &[Part::Checkins],
            Page::People => &[Part::Devices, Part::Members, Part::Keepers, Part::Invites],
        }
    }
}

/// A live part of a view: a section the script re-fetches (`/a/ID/part/NAME`) when the
/// alliance changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Status,
    Changes,
    Needs,
    Plan,
    VisionConflicts,
    Blame,
    Expectations,
    Checkins,
    Devices,
    Members,
    Keepers,
    Invites,
}

impl Part {
    pub const ALL: [Part; 12] = [
        Part::Status,
        Part::Changes,
        Part::Needs,
        Part::Plan,
        Part::VisionConflicts,
        Part::Blame,
        Part::Expectations,
        Part::Checkins,
        Part::Devices,
        Part::Members,
        Part::Keepers,
        Part::Invites,
    ];

    /// Its name in the page (`data-part`) and in its route.
    pub fn name(self) -> &'static str {
        match self {
            Part::Status => "status",
            Part::Changes => "changes",
            Part::Needs => "needs",
            Part::Plan => "plan",
            Part::VisionConflicts => "vision-conflicts",
            Part::Blame => "blame",
            Part::Expectations => "expectations",
            Part::Checkins => "checkins",
            Part::Devices => "devices",
            Part::Members => "members",
            Part::Keepers => "keepers",
            Part::Invites => "invites",
        }
    }

    /// The part named `name` in a route, or `None` for an unknown one.
    pub fn from_name(name: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Where the script fetches it, on the alliance `aid`.
    pub fn path(self, aid: &str) -> String {
        format!("/a/{aid}/part/{}", self.name())
    }
}

/// What one part shows beyond [`Ctx`], read before it is rendered.
pub enum PartData {
    /// What needs this person: `None` when this device is not a member; the status, or why it
    /// could not be had.
    Status(Option<Result<Box<Status>, String>>),
    /// What changed since the seen marker: `None` when nothing was ever marked.
    Changes(Option<crate::core::diff::Diff>),
    /// The needs' IDs in the order they were written (the history's order).
    Needs(Vec<ItemId>),
    /// The sessions' unresolved conflicts.
    Plan(Vec<Conflict>),
    /// The vision's open text conflicts.
    VisionConflicts(Vec<Conflict>),
    /// Who wrote each part of the vision.
    Blame(Vec<BlameSpan>),
    Expectations,
    Checkins,
    Devices(Vec<DeviceRow>),
    Members,
    /// The alliance's keepers and what each holds of this person's changes; whether this
    /// device's person is an admin (who may add one).
    Keepers(Vec<crate::core::status::KeeperHolds>, bool),
    /// The invites made on this device.
    Invites(Vec<Invite>),
}

impl PartData {
    /// The part this is the data of.
    pub fn part(&self) -> Part {
        match self {
            PartData::Status(_) => Part::Status,
            PartData::Changes(_) => Part::Changes,
            PartData::Needs(_) => Part::Needs,
            PartData::Plan(_) => Part::Plan,
            PartData::VisionConflicts(_) => Part::VisionConflicts,
            PartData::Blame(_) => Part::Blame,
            PartData::Expectations => Part::Expectations,
            PartData::Checkins => Part::Checkins,
            PartData::Devices(_) => Part::Devices,
            PartData::Members => Part::Members,
            PartData::Keepers(..) => Part::Keepers,
            PartData::Invites(_) => Part::Invites,
        }
    }
}

/// What an item's history page shows, read before it is rendered.
pub struct HistoryData {
    pub id: ItemId,
    pub versions: Vec<Version>,
    /// The item's unresolved conflicts.
    pub conflicts: Vec<Conflict>,
}
