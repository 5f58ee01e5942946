//! The page's HTML, rendered on the server with maud (checked at compile time; every value
//! from the document is escaped, because it is text other people's devices wrote). Each view
//! is a layout around *parts*: sections the script re-fetches when the alliance changes.
//!
//! Views are functions of data: what they show is read first, under the store lock
//! (`app::read`), into [`Ctx`] and one [`PartData`] per part; rendering reads nothing else and
//! writes nothing. Every form is rendered from the typed forms of [`crate::app::forms`], the
//! same the handlers read.
//!
//! - [`overview`]: "What needs me" (status, conflicts, what changed since I last looked).
//! - [`steps`]: the four steps' pages (needs, plan, vision, expectations, check-ins).
//! - [`people`]: members, devices, invites and a fresh ticket.
//! - [`review`]: an item's history, the printable page.
//! - [`seed`]: the questions each step asks, and a reader's note.
//! - [`start`]: first run, and starting or joining another alliance.
//! - [`data`]: what the views are rendered from ([`Ctx`], [`PartData`], [`HistoryData`]) and
//!   the views and parts by name ([`Page`], [`Part`]).
//! - [`pieces`]: the layout and the pieces every view is built of.

pub mod data;
pub mod overview;
pub mod people;
pub mod pieces;
pub mod review;
pub mod seed;
pub mod start;
pub mod steps;

use maud::{Markup, html};

pub use data::{Ctx, Gone, HistoryData, Page, Part, PartData};
pub use people::{link_ticket, ticket};
pub use pieces::{layout, refusal};
pub use review::{history, print};
pub use start::{setup, start};

/// The inside of one live part, from its data.
pub fn part(c: &Ctx, data: &PartData) -> Markup {
    match data {
        PartData::Status(status) => overview::status(c, status.as_ref()),
        PartData::Changes(diff) => overview::changes(c, diff.as_ref()),
        PartData::Needs(order) => steps::needs(c, order),
        PartData::Plan(here) => steps::plan(c, here),
        PartData::VisionConflicts(here) => steps::vision_conflicts(c, here),
        PartData::Blame(spans) => steps::blame(spans),
        PartData::Expectations => steps::expectations(c),
        PartData::Checkins => steps::checkins(c),
        PartData::Devices(rows) => people::devices(c, rows),
        PartData::Members => people::members(c),
        PartData::Keepers(list, admin) => people::keepers(c, list, *admin),
        PartData::Invites(list) => people::invites(c, list),
    }
}

fn wrap_part(aid: &str, part: Part, inner: Markup) -> Markup {
    html! {
        section.part data-part=(part.name()) data-src=(part.path(aid)) { (inner) }
    }
}

/// A whole view of the alliance, around its parts' data (in the order of [`Page::parts`]).
pub fn page(p: Page, c: &Ctx, parts: &[PartData], csrf: &str) -> Markup {
    let parts = html! {
        @for data in parts { (wrap_part(&c.aid, data.part(), part(c, data))) }
    };
    let body = match p {
        Page::Overview => html! {
            (parts)
        },
        Page::Needs => steps::needs_page(c, parts),
        Page::Plan => steps::plan_page(c, parts),
        Page::Vision => steps::vision_editor(c, parts),
        Page::Expectations => steps::expectations_page(c, parts),
        Page::Checkins => steps::checkins_page(c, parts),
        Page::People => people::people_page(c, parts),
    };
    let body = html! {
        (seed::reader_note(c))
        (seed::step_prompts(c, p))
        (seed::calendar_link(c, p))
        (body)
    };
    let heading = match p {
        Page::Overview => "What needs me".to_string(),
        Page::Needs => "Step 1: what each of us needs".into(),
        Page::Plan => "Step 2: our plan to sit down together".into(),
        Page::Vision => "Step 3: our shared vision".into(),
        Page::Expectations => "Step 3: what we expect of each other".into(),
        Page::Checkins => "Step 4: check-ins".into(),
        Page::People => "People, devices and invites".into(),
    };
    layout(
        &format!("{} · {}", heading, c.view.title),
        csrf,
        Some((&c.aid, &c.view.title, p)),
        &heading,
        html! {
            @if let Some(gone) = &c.gone { (pieces::gone(&c.view.title, gone)) }
            (body)
            // The version the page was drawn at: the event stream's first event says whether
            // something changed before it started listening.
            span #page-heads hidden data-heads=(sorted_heads(&c.heads)) {}
        },
    )
}

fn sorted_heads(heads: &[String]) -> String {
    let mut heads = heads.to_vec();
    heads.sort();
    heads.join(",")
}
