//! People & invites: the members (and those who left or were removed), their devices (online
//! now or last seen, named, removable), linking another device of one's own, the invites made
//! on this device, and a freshly made ticket. Everything that cannot be undone asks first: a
//! `<details>` that says what will happen, opened on purpose, with a button that names it.

use maud::{Markup, PreEscaped, html};

use super::data::Ctx;
use super::pieces::{button, count, form, history_link, on_day, shown, when};
use crate::app::forms::{Action, field};
use crate::core::invite::Invite;
use crate::device::steps::DeviceRow;

/// Whether this device's person is an admin (adds and removes people).
fn admin(c: &Ctx) -> bool {
    c.me.as_ref()
        .and_then(|m| c.view.member(m))
        .is_some_and(|m| m.admin && m.removed.is_none())
}

/// "Ada", "Ada or Tunde", "Ada, Ben or Tunde".
fn either(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

pub(super) fn people_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        @if c.writes() {
            h2 { "Invite someone" }
            @if admin(c) {
                p { "The ticket works once, until it expires, while this device stays online (this page open, or the device serving)." }
                (form(&Action::Invite.path(&c.aid), "Make a ticket", html! {
                    label for="invite-label" { "Who it is for (e.g. for Zoe)" }
                    input #invite-label name=(field::LABEL) type="text" placeholder="for Zoe";
                    label for="invite-role" { "Their role" }
                    input #invite-role name=(field::ROLE) type="text" value="member" required;
                    label for="invite-expires" { "Valid for (e.g. 30min, 24h, 7d)" }
                    input #invite-expires name=(field::EXPIRES) type="text" value="24h" required;
                    label.check { input #invite-reader name=(field::READER) type="checkbox" value="yes"; " As a reader: they see everything and write nothing (a grandparent, a therapist, a supervisor)" }
                }))
            } @else {
                @let admins: Vec<String> = c.view.admins().map(|m| m.name.clone()).collect();
                p { "Only an admin can invite someone new: ask " (shown(&either(&admins))) " to invite them." }
            }
            h2 { "Add a device of yours" }
            p { "A phone or a second computer: make a link here, then on that device open its page and join with the link (or scan the code). It becomes another device of yours." }
            (form(&Action::DeviceLink.path(&c.aid), "Make a link", html! {
                label for="link-label" { "What you call it (e.g. Zoe's phone)" }
                input #link-label name=(field::LABEL) type="text" placeholder="my phone";
                label for="link-expires" { "Valid for (e.g. 30min, 1h, 1d)" }
                input #link-expires name=(field::EXPIRES) type="text" value="1h" required;
            }))
        }
        (parts)
        h2 { "Reminders on this computer" }
        p { "While this page or the device's " em { "serve" } " runs, a notification on this computer when a check-in comes due, a design session is tomorrow, or an expectation waits for your agreement. Off unless you turn it on." }
        (form(&Action::Reminders.path(&c.aid), if c.reminders { "Turn reminders off" } else { "Turn reminders on" }, html! {
            input type="hidden" name=(field::REMIND) value=(if c.reminders { "off" } else { "on" });
            p.quiet { "Reminders are " strong { (if c.reminders { "on" } else { "off" }) } "." }
        }))
    }
}

pub(super) fn members(c: &Ctx) -> Markup {
    let admin = admin(c);
    html! {
        h2 { "Members" }
        ul.cards {
            @for m in &c.view.members {
                @let me = c.me.as_ref() == Some(&m.id);
                li #{"item-" (m.id)} {
                    p.text {
                        strong { (shown(&m.name)) } @if !m.role.is_empty() { " · " (shown(&m.role)) }
                        @if me { " (you)" }
                        @if m.admin { " " span.tag { "admin" } }
                        @if m.reader { " · " span.tag { "reader" } }
                    }
                    p.meta {
                        (count(m.devices.len(), "device", "devices")) " · "
                        @match &m.added_by {
                            None => { "founded it on " (on_day(m.added_at)) }
                            Some(by) => { "added by " (shown(&c.view.name_of(by))) " on " (on_day(m.added_at)) }
                        }
                        " · " (history_link(&c.aid, &c.view, &m.id))
                    }
                    @if me && c.writes() {
                        details.danger {
                            summary { "Leave the alliance…" }
                            p { "Your devices will no longer sync “" (shown(&c.view.title)) "”, and only a new invite brings you back. What you wrote keeps your name, and what this device holds stays readable here. This cannot be undone." }
                            (button(&Action::Leave.path(&c.aid), "Yes, leave", &[(field::CONFIRM, "yes")], "Yes, leave the alliance"))
                        }
                    } @else if admin {
                        details.danger {
                            summary { "Remove " (shown(&m.name)) " from the alliance…" }
                            p { (shown(&m.name)) "'s devices will no longer connect or write, on every device; what they wrote keeps their name. This cannot be undone." }
                            (button(&Action::MemberRemove.path(&c.aid), &format!("Yes, remove {}", m.name), &[(field::ID, m.id.as_str()), (field::CONFIRM, "yes")], &format!("Yes, remove {} from the alliance", m.name)))
                        }
                    }
                }
            }
        }
        @if !c.view.former.is_empty() {
            h3 { "No longer in the alliance" }
            ul.cards {
                @for m in &c.view.former {
                    li #{"item-" (m.id)} {
                        p.text { strong { (shown(&m.name)) } @if !m.role.is_empty() { " · " (shown(&m.role)) } }
                        p.meta {
                            @if let Some(r) = &m.removed {
                                @if r.by == m.id { "left on " (on_day(r.at)) }
                                @else { "removed by " (shown(&c.view.name_of(&r.by))) " on " (on_day(r.at)) }
                            }
                            " · " (history_link(&c.aid, &c.view, &m.id))
                        }
                    }
                }
            }
        }
    }
}

/// What this device calls a device: its name here, or "Zoe's device".
pub fn called(r: &DeviceRow) -> String {
    r.label
        .clone()
        .unwrap_or_else(|| format!("{}'s device", r.name))
}

/// The member devices (`rows`, as `alliance peers` lists them), online now or last seen.
pub(super) fn devices(c: &Ctx, rows: &[DeviceRow]) -> Markup {
    let admin = admin(c);
    html! {
        h2 { "Devices" }
        ul.cards {
            @for r in rows {
                @let name = called(r);
                @let mine = c.me.as_ref() == Some(&r.member);
                li.retired[r.removed.is_some()] id={"device-" (&r.device[..16])} {
                    p.text {
                        strong { (shown(&name)) }
                        @if r.label.is_some() { " · " (shown(&r.name)) "'s" }
                        @if r.this_device { " (this device)" }
                    }
                    p.meta {
                        @if let Some((by, at)) = &r.removed { "removed by " (shown(by)) " on " (on_day(*at)) }
                        @else if r.this_device { "the one you are using" }
                        @else if c.online.contains(&r.device) { span.online { "online now" } }
                        @else { @match r.last_seen { Some(t) => { "last seen " (when(t)) }, None => { "not seen yet" } } }
                        " · added on " (on_day(r.added_at))
                    }
                    @if c.me.is_some() && r.removed.is_none() {
                        details {
                            summary { "Name it" }
                            (form(&Action::DeviceName.path(&c.aid), "Save the name", html! {
                                input type="hidden" name=(field::DEVICE) value=(r.device);
                                label for={"dev-name-" (&r.device[..16])} { "What this device calls it (only here)" }
                                input id={"dev-name-" (&r.device[..16])} name=(field::LABEL) type="text" value=(r.label.clone().unwrap_or_default()) placeholder="Zoe's phone";
                            }))
                        }
                        @if !r.this_device && (mine || admin) {
                            details.danger {
                                summary { "Remove this device…" }
                                p { (shown(&name)) " will no longer connect or write, on every device; what it wrote stays. Use this for a lost or given-away device. This cannot be undone." }
                                (button(&Action::DeviceRemove.path(&c.aid), &format!("Yes, remove {name}"), &[(field::DEVICE, &r.device), (field::CONFIRM, "yes")], &format!("Yes, remove {name}")))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The alliance's always-on keepers, whether each has what this person wrote, and (for an
/// admin) the form that adds one.
pub(super) fn keepers(c: &Ctx, list: &[crate::core::status::KeeperHolds], admin: bool) -> Markup {
    html! {
        h2 { "Always-on keepers" }
        @if list.is_empty() {
            p { "A keeper is a computer that stays on (a desktop, a NAS, a small server) and keeps the alliance for everyone, so that devices that are never on at the same time still get each other's changes. It writes nothing itself." }
        } @else {
            ul.cards {
                @for k in list {
                    li {
                        p.text { strong { (shown(&k.name)) } }
                        p.meta {
                            (crate::device::keeper::holds_in_words(k.missing).replacen("it has", "It has", 1).replacen("not synced", "Not synced", 1))
                            @if let Some(t) = k.last_sync { " · last synced " (t.ago(c.now)) }
                        }
                    }
                }
            }
        }
        @if admin {
            (form(&Action::KeeperAdd.path(&c.aid), "Add an always-on keeper", html! {
                label for="keeper-ticket" { "The keeper's ticket (it shows it when it starts)" }
                input #keeper-ticket name=(field::TICKET) type="text" autocomplete="off" required;
                label for="keeper-name" { "What your family calls it (optional)" }
                input #keeper-name name=(field::NAME) type="text" placeholder="the family's NAS";
            }))
        }
    }
}

/// An invite's status in words.
fn status_words(status: &str) -> &'static str {
    match status {
        "open" => "waiting to be used",
        "used" => "used",
        "expired" => "expired",
        _ => "revoked",
    }
}

/// The invites made on this device (`list`), by what they are for and who used them.
pub(super) fn invites(c: &Ctx, list: &[Invite]) -> Markup {
    html! {
        h2 { "Invites and links made on this device" }
        @if list.is_empty() { p { "None yet." } }
        ul.cards {
            @for i in list.iter().rev() {
                @let status = i.status(c.now);
                @let what = match (&i.member, &i.label) {
                    (Some(_), Some(l)) => format!("A link for {l}"),
                    (Some(_), None) => "A link for another device".to_string(),
                    (None, Some(l)) => format!("An invite {l}"),
                    (None, None) => "An invite".to_string(),
                };
                li {
                    p.text { strong { (shown(&what)) } @if i.member.is_none() { " · as " (shown(&i.role)) } @if i.reader { " (reader)" } " · " span.tag { (status_words(status)) } }
                    p.meta {
                        @if let Some(u) = &i.used_by {
                            @match c.view.member_of_device(u) {
                                Some(m) => { "used by " (shown(&m.name)) }
                                None => { "used by a device that is not in the alliance yet" }
                            }
                            @if let Some(at) = i.used_at { " on " (on_day(crate::core::Timestamp(at))) }
                        } @else {
                            "made on " (on_day(crate::core::Timestamp(i.created_at))) " · works until " (when(crate::core::Timestamp(i.expires_at)))
                        }
                    }
                    @if status == "open" { (button(&Action::InviteRevoke.path(&c.aid), "Revoke", &[(field::ID, &i.id)], &format!("Revoke {}", what.to_lowercase()))) }
                }
            }
        }
    }
}

fn qr(ticket: &str) -> Option<String> {
    qrcode::QrCode::with_error_correction_level(ticket.as_bytes(), qrcode::EcLevel::L)
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .ok()
}

/// The ticket line and its QR code as SVG.
fn ticket_box(ticket: &str) -> Markup {
    html! {
        label for="ticket-line" { "Ticket" }
        textarea #ticket-line readonly rows="4" { (ticket) }
        @if let Some(svg) = qr(ticket) {
            // The SVG is drawn by the qrcode crate from the ticket's base32 characters.
            figure.qr { (PreEscaped(svg)) figcaption { "The same ticket as a QR code" } }
        }
    }
}

/// The freshly made invite: the line, its QR code as SVG, expiry and role.
pub fn ticket(ticket: &str, invite: &Invite) -> Markup {
    let expires = crate::core::Timestamp(invite.expires_at);
    html! {
        div.ticket {
            p { "Give this ticket to the person you invite (as " strong { (shown(&invite.role)) } "); it works once, until " (when(expires)) "." }
            (ticket_box(ticket))
            p { "On their device they open the alliance page and choose “Join with a ticket”, then paste it." }
        }
    }
}

/// The freshly made link for another device of this person's.
pub fn link_ticket(ticket: &str, invite: &Invite) -> Markup {
    let expires = crate::core::Timestamp(invite.expires_at);
    html! {
        div.ticket {
            p { "Open the alliance page on " (shown(invite.label.as_deref().unwrap_or("your other device"))) ", choose “Join with a ticket” and paste this, or scan the code. It works once, until " (when(expires)) "." }
            (ticket_box(ticket))
        }
    }
}
