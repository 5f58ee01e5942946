//! People & invites: the members, their devices (online now or last seen), the invites made
//! on this device, and a freshly made ticket.

use maud::{Markup, PreEscaped, html};

use super::data::Ctx;
use super::pieces::{button, form, history_link, shown};
use crate::app::forms::{Action, field};
use crate::core::Timestamp;
use crate::core::invite::Invite;
use crate::device::steps::DeviceRow;

pub(super) fn people_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        @if c.writes() {
            h2 { "Invite someone" }
            p { "The ticket works once, until it expires, while this device stays online (this page open, or the device serving)." }
            (form(&Action::Invite.path(&c.aid), "Make a ticket", html! {
                label for="invite-role" { "Their role" }
                input #invite-role name=(field::ROLE) type="text" value="member" required;
                label for="invite-expires" { "Valid for (e.g. 30m, 24h, 7d)" }
                input #invite-expires name=(field::EXPIRES) type="text" value="24h" required;
                label.check { input #invite-reader name=(field::READER) type="checkbox" value="yes"; " As a reader: they see everything and write nothing (a grandparent, a therapist, a supervisor)" }
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
    html! {
        h2 { "Members" }
        ul.cards {
            @for m in &c.view.members {
                li {
                    p.text { strong { (shown(&m.name)) } @if !m.role.is_empty() { " · " (shown(&m.role)) } @if m.reader { " · " span.tag { "reader" } } @if c.me.as_ref() == Some(&m.id) { " (you)" } }
                    p.meta {
                        (m.devices.len()) " device(s) · "
                        @match &m.added_by {
                            None => { "founded it " (m.added_at.date()) }
                            Some(by) => { "added by " (shown(&c.view.name_of(by))) " " (m.added_at.date()) }
                        }
                        " · " (history_link(&c.aid, &m.id))
                    }
                }
            }
        }
    }
}

/// The member devices (`rows`, as `alliance peers` lists them), online now or last seen.
pub(super) fn devices(c: &Ctx, rows: &[DeviceRow]) -> Markup {
    html! {
        h2 { "Devices" }
        ul.cards {
            @for r in rows {
                li {
                    p.text { strong { (shown(&r.name)) } " · " code { (crate::core::history::short(&r.device)) } }
                    p.meta {
                        @if r.this_device { "this device" }
                        @else if c.online.contains(&r.device) { span.online { "online now" } }
                        @else { "last seen " (r.last_seen.map(|t| format!("{} UTC", t.short())).unwrap_or_else(|| "never".into())) }
                    }
                }
            }
        }
    }
}

/// The invites made on this device (`list`).
pub(super) fn invites(c: &Ctx, list: &[Invite]) -> Markup {
    html! {
        h2 { "Invites made on this device" }
        @if list.is_empty() { p { "None yet." } }
        ul.cards {
            @for i in list.iter().rev() {
                @let status = i.status(c.now);
                li {
                    p.text { code { (i.id) } " · " (i.role) @if i.reader { " (reader)" } " · " span.tag { (status) } }
                    p.meta { "expires " (Timestamp(i.expires_at).short()) " UTC"
                        @if let Some(u) = &i.used_by { " · used by device " code { (crate::core::history::short(u)) } } }
                    @if status == "open" { (button(&Action::InviteRevoke.path(&c.aid), "Revoke", &[(field::ID, &i.id)], &format!("Revoke invite {}", i.id))) }
                }
            }
        }
    }
}

/// The freshly made ticket: the line, its QR code as SVG, expiry and role.
pub fn ticket(ticket: &str, invite: &Invite) -> Markup {
    let svg = qrcode::QrCode::with_error_correction_level(ticket.as_bytes(), qrcode::EcLevel::L)
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .ok();
    html! {
        div.ticket {
            p { "Give this ticket to the person you invite (role " strong { (invite.role) } "); it works once, until " (Timestamp(invite.expires_at).short()) " UTC." }
            label for="ticket-line" { "Ticket" }
            textarea #ticket-line readonly rows="4" { (ticket) }
            @if let Some(svg) = svg {
                // The SVG is drawn by the qrcode crate from the ticket's base32 characters.
                figure.qr { (PreEscaped(svg)) figcaption { "The same ticket as a QR code" } }
            }
            p { "On their device: open the page and choose “Join with a ticket”, or run " code { "alliance join TICKET --name THEIR_NAME" } "." }
        }
    }
}
