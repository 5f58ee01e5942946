//! "What needs me": what needs this person's attention, and what changed since they last
//! looked.

use maud::{Markup, html};

use super::data::Ctx;
use super::pieces::{author, button, conflicts, history_link, shown};
use crate::app::forms::{Action, field};
use crate::core::diff::Diff;
use crate::core::status::Status;

/// What needs this person (`alliance status`): `None` when this device is not a member.
pub(super) fn status(c: &Ctx, status: Option<&Result<Box<Status>, String>>) -> Markup {
    let Some(status) = status else {
        return html! { p.notice { "This device is not a member of this alliance." } };
    };
    let st = match status {
        Ok(s) => s,
        Err(message) => return html! { p.notice { (message) } },
    };
    let quiet = st.conflicts.is_empty()
        && st.to_agree.is_empty()
        && !st.checkin.due
        && st.without_needs.is_empty()
        && st.news_count == 0
        && st.equivocations.is_empty()
        && st.quarantined_peers.is_empty();
    html! {
        p { "Hello, " (shown(&st.name)) "." }
        @if quiet { p.calm { "Nothing needs your attention." } }
        @if !st.conflicts.is_empty() {
            h2 { (st.conflicts.len()) " conflict(s): edits that collided" }
            (conflicts(&c.aid, &st.conflicts, c.writes()))
        }
        @if !st.to_agree.is_empty() {
            h2 { (st.to_agree.len()) " expectation(s) waiting for your agreement" }
            ul.cards {
                @for e in &st.to_agree {
                    li {
                        q { (shown(&e.text)) }
                        @if e.stale { " " span.tag { "reworded since you agreed" } }
                        @if e.in_conflict {
                            " " span.tag { "rewritten by two people at once: keep one version above first" }
                        } @else if c.writes() {
                            " " (button(&Action::ExpectAgree.path(&c.aid), "I agree", &[(field::ID, e.expectation.as_str())], &format!("I agree to {}", e.text)))
                        }
                    }
                }
            }
        }
        @let ci = &st.checkin;
        @if ci.due {
            h2 { "A check-in is due" }
            p {
                @match (&ci.last, &ci.next) {
                    (Some(last), Some(next)) if ci.overdue_days > 0 => { "The last was " (last) "; the next was due " (next) " (" (ci.overdue_days) " day(s) ago). " }
                    (Some(last), Some(next)) => { "Due today (" (next) "); the last was " (last) ". " }
                    _ => { "No check-in yet. " }
                }
                a href={"/a/" (c.aid) "/checkins"} { "Check in" }
            }
        } @else if let Some(next) = &ci.next {
            p { "Next check-in: " (next) "." }
        }
        @if !st.without_needs.is_empty() {
            p { "No needs shared yet by: " (shown(&st.without_needs.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))) "." }
        }
        @if st.news_count > 0 {
            h2 { (st.news_count) " change(s) by others since you " @if st.seen_marked { "last marked them read" } @else { "joined" } }
            ul.news {
                @for e in &st.news {
                    li { time { (e.time.short()) } " " (author(&e.author, e.verified)) ": " (shown(e.what())) }
                }
            }
        }
        @for e in &st.equivocations {
            p.notice role="alert" {
                "Equivocation: " (e.member.as_deref().map(|m| format!("{m}'s device")).unwrap_or_else(|| "a device that is not a member".into()))
                " " code { (crate::core::history::short(&e.device)) } " signed two different changes numbered " (e.seq)
                ". Its further changes are refused; was that device restored from a backup or copied?"
            }
        }
        @for q in &st.quarantined_peers {
            p.notice { "Device " code { (crate::core::history::short(&q.device)) } " is refused until " (q.until.short()) " UTC: " (q.reason) }
        }
    }
}

/// What changed since this device's person last marked the alliance read: `None` when they
/// never did.
pub(super) fn changes(c: &Ctx, diff: Option<&Diff>) -> Markup {
    let seen = Action::Seen.path(&c.aid);
    // Never marked: everything is new here, and the whole history is not worth reading item
    // by item (the news above lists the newest); marking starts the count.
    let Some(diff) = diff else {
        return html! {
            h2 { "What changed since I last looked" }
            p { "Nothing is marked as read on this device yet, so everything in the alliance is new here. Mark it as read, and from then on this shows what changed since." }
            (button(&seen, "Mark as read", &[], "Mark everything as read"))
        };
    };
    html! {
        h2 { "What changed since I last looked" }
        @if diff.steps.is_empty() {
            p { "Nothing new." }
        } @else {
            p { (diff.changes) " change(s):" }
            @for step in &diff.steps {
                h3 { (step.step) }
                ul {
                    @for item in &step.items {
                        li {
                            (item.what) " "
                            @match &item.item {
                                Some(i) => { (i.kind().noun()) " " (history_link(&c.aid, i)) }
                                None if step.step == "Alliance" => { "the title" }
                                None => { "the vision" }
                            }
                            " " q { (shown(&item.title)) } " by "
                            @for (n, who) in item.authors.iter().enumerate() {
                                @if n > 0 { ", " }
                                (author(who, who != "unknown"))
                            }
                            @if item.what != "added" || item.item.is_none() {
                                ul { @for f in item.fields.iter().filter_map(|f| f.words.as_ref()) { li { (shown(f)) } } }
                            }
                        }
                    }
                }
            }
        }
        (button(&seen, "Mark as read", &[], "Mark everything as read"))
    }
}
