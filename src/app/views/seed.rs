//! The seed's questions on each step's page (the prompts of the alliance's starting point,
//! `core::seed`), and the note a reader sees in place of the forms that write.

use maud::{Markup, html};

use super::data::{Ctx, Page};
use crate::core::seed::{Start, prompts};

/// The step a page belongs to, for its prompts.
fn step_of(p: Page) -> Option<u8> {
    match p {
        Page::Needs => Some(1),
        Page::Plan => Some(2),
        Page::Vision | Page::Expectations => Some(3),
        Page::Checkins => Some(4),
        Page::Overview | Page::People => None,
    }
}

/// The questions the step asks, with examples, for the alliance's starting point.
pub(super) fn step_prompts(c: &Ctx, p: Page) -> Markup {
    let Some(step) = step_of(p) else {
        return html! {};
    };
    let start = Start::of(&c.view.start);
    let Some(pr) = prompts(start, step) else {
        return html! {};
    };
    html! {
        aside.prompts aria-label="Questions to start from" data-start=(start.as_str()) data-step=(step) {
            h2 { "Questions to start from" }
            ul { @for q in pr.questions { li { (q) } } }
            p.examples { "For example: "
                @for (i, e) in pr.examples.iter().enumerate() {
                    @if i > 0 { "; " }
                    q { (e) }
                }
            }
        }
    }
}

/// "Add to calendar" on the plan's and the check-ins' pages: the design sessions and the
/// check-in cadence as one calendar file (the sessions whose time names a day).
pub(super) fn calendar_link(c: &Ctx, p: Page) -> Markup {
    if !matches!(p, Page::Plan | Page::Checkins) {
        return html! {};
    }
    html! {
        p.calendar {
            a #calendar-link href={"/a/" (c.aid) "/calendar.ics"} download="alliance.ics" { "Add to calendar" }
            " · the design sessions that name a day (a date, or a weekday like “Saturday 10am”) and the check-ins, in your calendar app"
        }
    }
}

/// What a reader reads at the top of every page: why there is nothing to fill in.
pub(super) fn reader_note(c: &Ctx) -> Markup {
    if !c.reader {
        return html! {};
    }
    let admins: Vec<&str> = c.view.admins().map(|m| m.name.as_str()).collect();
    html! {
        p.reader-note role="note" {
            "You are a reader here: you see everything the others write, as they write it, and write nothing yourself, so this page has nothing for you to fill in. "
            @if !admins.is_empty() { "To write too, ask " (admins.join(" or ")) " for a member's invite." }
        }
    }
}
