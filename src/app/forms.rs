//! The page's forms, typed: which forms there are ([`Action`] on an alliance, [`FirstRun`]
//! before one), the route each is sent to, and the names of their fields ([`field`]). The
//! views render every form from these and the handlers ([`super::actions`]) read every form
//! by them, so a form and its handler cannot disagree; the script sends any `form.act` to its
//! `action` as it is, and knows no names.

/// What a form on an alliance's page asks for: sent to `/a/ID/do/NAME` ([`Action::path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NeedAdd,
    NeedEdit,
    NeedRemove,
    PlanAdd,
    PlanEdit,
    ExpectAdd,
    ExpectEdit,
    ExpectAgree,
    ExpectRetire,
    CheckinAdd,
    CheckinReflect,
    Resolve,
    Seen,
    Invite,
    InviteRevoke,
    DeviceLink,
    DeviceName,
    DeviceRemove,
    MemberRemove,
    Leave,
    KeeperAdd,
    Reminders,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::NeedAdd,
        Action::NeedEdit,
        Action::NeedRemove,
        Action::PlanAdd,
        Action::PlanEdit,
        Action::ExpectAdd,
        Action::ExpectEdit,
        Action::ExpectAgree,
        Action::ExpectRetire,
        Action::CheckinAdd,
        Action::CheckinReflect,
        Action::Resolve,
        Action::Seen,
        Action::Invite,
        Action::InviteRevoke,
        Action::DeviceLink,
        Action::DeviceName,
        Action::DeviceRemove,
        Action::MemberRemove,
        Action::Leave,
        Action::KeeperAdd,
        Action::Reminders,
    ];

    /// Its name in the route.
    pub fn name(self) -> &'static str {
        match self {
            Action::NeedAdd => "need-add",
            Action::NeedEdit => "need-edit",
            Action::NeedRemove => "need-remove",
            Action::PlanAdd => "plan-add",
            Action::PlanEdit => "plan-edit",
            Action::ExpectAdd => "expect-add",
            Action::ExpectEdit => "expect-edit",
            Action::ExpectAgree => "expect-agree",
            Action::ExpectRetire => "expect-retire",
            Action::CheckinAdd => "checkin-add",
            Action::CheckinReflect => "checkin-reflect",
            Action::Resolve => "resolve",
            Action::Seen => "seen",
            Action::Invite => "invite",
            Action::InviteRevoke => "invite-revoke",
            Action::DeviceLink => "device-link",
            Action::DeviceName => "device-name",
            Action::DeviceRemove => "device-remove",
            Action::MemberRemove => "member-remove",
            Action::Leave => "leave",
            Action::KeeperAdd => "keeper-add",
            Action::Reminders => "reminders",
        }
    }

    /// The action named `name` in a route, or `None` for one the page does not do.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether it cannot be undone (removing a device or a person, leaving): its form carries
    /// [`field::CONFIRM`] from the button that says what it does, and the handler refuses it
    /// without.
    pub fn destroys(self) -> bool {
        matches!(
            self,
            Action::DeviceRemove | Action::MemberRemove | Action::Leave
        )
    }

    /// Where its form is sent, on the alliance `aid`.
    pub fn path(self, aid: &str) -> String {
        format!("/a/{aid}/do/{}", self.name())
    }
}

/// The forms of a device without an alliance (or starting another), each on its own route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRun {
    /// This device's person's name.
    Setup,
    /// Found an alliance.
    Create,
    /// Join one with a ticket.
    Join,
}

impl FirstRun {
    /// Where its form is sent (the route it is served on).
    pub const fn path(self) -> &'static str {
        match self {
            FirstRun::Setup => "/setup",
            FirstRun::Create => "/create",
            FirstRun::Join => "/join",
        }
    }
}

/// The names of the forms' fields, as the views render them and the handlers read them.
pub mod field {
    /// A text: a need's, an expectation's (add, edit).
    pub const TEXT: &str = "text";
    /// The item an action is on (an item ID; for `resolve`, also `alliance` or `vision`; for
    /// `invite-revoke`, the invite's ID).
    pub const ID: &str = "id";
    /// A session's time, place or way, and agenda (plan add, plan edit).
    pub const WHEN: &str = "when";
    pub const HOW: &str = "how";
    pub const AGENDA: &str = "agenda";
    /// The time and place a session had when its form was drawn (plan edit): a change made
    /// meanwhile by someone else is said, not silently replaced.
    pub const WAS_WHEN: &str = "was-when";
    pub const WAS_HOW: &str = "was-how";
    /// Who comes to a session (repeated: checkboxes).
    pub const WITH: &str = "with";
    /// Set by a form that sends the whole list of who comes (plan edit): none ticked is then
    /// everyone, not "unchanged".
    pub const WITH_SENT: &str = "with-sent";
    /// Whose expectation it is, and of whom (repeated: checkboxes).
    pub const HOLDER: &str = "holder";
    pub const OF: &str = "of";
    /// A check-in: the rating (1 to 5), the reflection, the proposed changes (one per line),
    /// the next check-in's distance (`2w`).
    pub const RATING: &str = "rating";
    pub const REFLECTION: &str = "reflection";
    pub const PROPOSE: &str = "propose";
    pub const NEXT: &str = "next";
    /// A conflict settled: the field, and the value kept (1-based).
    pub const FIELD: &str = "field";
    pub const PICK: &str = "pick";
    /// An invite's or a founder's role, and how long the invite is valid.
    pub const ROLE: &str = "role";
    pub const EXPIRES: &str = "expires";
    /// An invite for a reader (a checkbox: present when ticked).
    pub const READER: &str = "reader";
    /// The founding form's starting point (`family`, `coaching`, `team`).
    pub const START: &str = "start";
    /// Reminders as desktop notifications: `on` or `off`.
    pub const REMIND: &str = "remind";
    /// A person's name (setup, join), an alliance's title (create), a ticket (join).
    pub const NAME: &str = "name";
    pub const TITLE: &str = "title";
    pub const TICKET: &str = "ticket";
    /// What an invite or a device is called ("for Zoe", "Zoe's phone").
    pub const LABEL: &str = "label";
    /// A device (its key, hex), for naming or removing it.
    pub const DEVICE: &str = "device";
    /// Set (`yes`) by the button that confirms an action that cannot be undone.
    pub const CONFIRM: &str = "confirm";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_found_by_its_own_name_only() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("format-disk"), None);
    }
}
