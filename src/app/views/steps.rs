//! The four steps' pages: needs, the plan, the vision (its editor, its conflicts, who wrote
//! which part), expectations and check-ins, each with its forms and its live parts.

use maud::{Markup, html};

use super::data::{Ctx, Part};
use super::pieces::{
    author, button, conflicts, count, day, form, history_link, names, rating_select, shown,
};
use crate::app::forms::{Action, field};
use crate::core::ItemId;
use crate::core::conflicts::Conflict;
use crate::core::history::BlameSpan;
use crate::core::model::ExpectationStatus;

// ---- the pages around the parts ----

pub(super) fn needs_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        p.lead { "What each of us needs, in our own words. You can add, reword and remove your own." }
        @if c.writes() {
            (form(&Action::NeedAdd.path(&c.aid), "Add my need", html! {
                label for="need-text" { "A need of mine" }
                textarea #need-text name=(field::TEXT) rows="2" required {}
            }))
        }
        (parts)
    }
}

pub(super) fn plan_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        p.lead { "When and how we sit down to design our alliance together." }
        (parts)
        @if c.writes() {
            h2 { "Plan a session" }
            (form(&Action::PlanAdd.path(&c.aid), "Plan it", html! {
                label for="plan-when" { "When" }
                input #plan-when name=(field::WHEN) type="text" placeholder="Sunday 7pm" required;
                label for="plan-how" { "Where or how" }
                input #plan-how name=(field::HOW) type="text" placeholder="date night at home" required;
                label for="plan-agenda" { "What to talk about" }
                textarea #plan-agenda name=(field::AGENDA) rows="2" {}
                fieldset {
                    legend { "Who comes (nobody ticked: everyone, also people who join later)" }
                    @for m in &c.view.members {
                        label.check { input type="checkbox" name=(field::WITH) value=(m.id); " " (shown(&m.name)) }
                    }
                }
            }))
        }
    }
}

pub(super) fn vision_editor(c: &Ctx, parts: Markup) -> Markup {
    html! {
        p.lead { "One text we all write together. Type away: your words go out a moment after you pause, and the others' words appear as they type, without moving your cursor." }
        (parts)
        @if c.writes() {
            label for="vision" { "Our shared vision" }
            textarea #vision rows="12" spellcheck="true"
                data-heads=(c.heads.join(","))
                data-src={"/a/" (c.aid) "/vision/text"}
                data-splice={"/a/" (c.aid) "/vision/splice"} { (c.view.vision) }
            p #vision-state.result role="status" aria-live="polite" { "Saved." }
        } @else {
            blockquote.vision { (shown(&c.view.vision)) }
        }
        // Drawn when opened (and then kept live): working out who wrote each character costs
        // more than the rest of the page, so typing does not redraw it on closed pages.
        details #blame-box {
            summary { h2.inline { "Who wrote which part" } }
            section.part data-part=(Part::Blame.name()) data-lazy="1" data-src=(Part::Blame.path(&c.aid)) {
                p.quiet { "Loading…" }
            }
        }
    }
}

pub(super) fn expectations_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        p.lead { "Concrete things we expect of each other. An expectation is agreed when everyone has agreed to its current wording." }
        (parts)
        @if c.writes() {
            h2 { "Propose an expectation" }
            (form(&Action::ExpectAdd.path(&c.aid), "Propose it", html! {
                label for="expect-text" { "The expectation" }
                textarea #expect-text name=(field::TEXT) rows="2" required {}
                label for="expect-holder" { "Whose expectation it is" }
                select #expect-holder name=(field::HOLDER) {
                    @for m in &c.view.members {
                        option value=(m.id) selected[c.me.as_ref() == Some(&m.id)] { (shown(&m.name)) }
                    }
                }
                fieldset {
                    legend { "Of whom (nobody ticked: everyone)" }
                    @for m in &c.view.members {
                        label.check { input type="checkbox" name=(field::OF) value=(m.id); " " (shown(&m.name)) }
                    }
                }
            }))
        }
    }
}

pub(super) fn checkins_page(c: &Ctx, parts: Markup) -> Markup {
    html! {
        p.lead { "Regular check-ins to recalibrate: how is it working, and what should change?" }
        @if c.writes() {
            h2 { "Check in now" }
            (form(&Action::CheckinAdd.path(&c.aid), "Record my check-in", html! {
                (rating_select("checkin-rating"))
                label for="checkin-reflection" { "My reflection" }
                textarea #checkin-reflection name=(field::REFLECTION) rows="3" {}
                label for="checkin-propose" { "Changes I propose (one per line)" }
                textarea #checkin-propose name=(field::PROPOSE) rows="2" {}
                label for="checkin-next" { "Next check-in in (e.g. 10d, 2w, 1m for a month)" }
                input #checkin-next name=(field::NEXT) type="text" value="2w" required;
            }))
        }
        (parts)
    }
}

// ---- parts ----

/// Everyone's needs, each person's in `order` (the order they were written).
pub(super) fn needs(c: &Ctx, order: &[ItemId]) -> Markup {
    html! {
        @if c.view.needs.is_empty() { p { "No needs written down yet." } }
        @for m in &c.view.members {
            @let mine = c.me.as_ref() == Some(&m.id);
            // In the order they were written.
            @let list: Vec<_> = order
                .iter()
                .filter_map(|id| c.view.needs.iter().find(|n| &n.id == id))
                .filter(|n| n.owner == m.id)
                .collect();
            h2 { (shown(&m.name)) @if mine { " (you)" } }
            @if list.is_empty() { p.quiet { "Nothing yet." } }
            ul.cards {
                @for n in list {
                    li #{"item-" (n.id)} {
                        p.text { (shown(&n.text)) }
                        p.meta { (history_link(&c.aid, &c.view, &n.id)) }
                        @if mine {
                            details {
                                summary { "Reword or remove" }
                                (form(&Action::NeedEdit.path(&c.aid), "Save the new wording", html! {
                                    input type="hidden" name=(field::ID) value=(n.id);
                                    label for={"need-" (n.id)} { "New wording" }
                                    textarea id={"need-" (n.id)} name=(field::TEXT) rows="2" required { (crate::core::text::bidi_escaped(&n.text)) }
                                }))
                                (button(&Action::NeedRemove.path(&c.aid), "Remove this need", &[(field::ID, n.id.as_str())], "Remove this need"))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The vision's open text conflicts: words two people rewrote at once, each wording with its
/// author and "Keep this" (shown above the editor, not only on "What needs me").
pub(super) fn vision_conflicts(c: &Ctx, here: &[Conflict]) -> Markup {
    html! {
        @if !here.is_empty() {
            div.notice role="alert" {
                h2 { "Rewritten by two people at once" }
                p { "The text below holds both wordings merged. Keep one of them; the other stays in the history." }
                (conflicts(&c.aid, &c.view, here, c.writes()))
            }
        }
    }
}

/// The sessions, with the conflicts on them (`here`).
pub(super) fn plan(c: &Ctx, here: &[Conflict]) -> Markup {
    html! {
        @if !here.is_empty() {
            div.notice role="alert" {
                h2 { @if here.len() == 1 { "A session two people changed at once" } @else { (here.len()) " sessions two people changed at once" } }
                (conflicts(&c.aid, &c.view, here, c.writes()))
            }
        }
        @if c.view.plan.is_empty() { p { "No session planned yet." } }
        ul.cards {
            @for p in &c.view.plan {
                li #{"item-" (p.id)} {
                    p.text { strong.when { (shown(&p.when)) } " · " (shown(&p.how)) }
                    p.meta { "With " @if p.attendees.is_empty() { "everyone" } @else { (names(&c.view, &p.attendees)) } " · " (history_link(&c.aid, &c.view, &p.id)) }
                    @if !p.agenda.trim().is_empty() { p { "Agenda: " (shown(&p.agenda)) } }
                    @if c.writes() {
                        details {
                            summary { "Reschedule or change" }
                            (form(&Action::PlanEdit.path(&c.aid), "Save", html! {
                                input type="hidden" name=(field::ID) value=(p.id);
                                input type="hidden" name=(field::WAS_WHEN) value=(p.when);
                                input type="hidden" name=(field::WAS_HOW) value=(p.how);
                                label for={"when-" (p.id)} { "When" }
                                input id={"when-" (p.id)} name=(field::WHEN) type="text" value=(crate::core::text::bidi_escaped(&p.when)) required;
                                label for={"how-" (p.id)} { "Where or how" }
                                input id={"how-" (p.id)} name=(field::HOW) type="text" value=(crate::core::text::bidi_escaped(&p.how)) required;
                                label for={"agenda-" (p.id)} { "Agenda" }
                                textarea id={"agenda-" (p.id)} name=(field::AGENDA) rows="2" { (crate::core::text::bidi_escaped(&p.agenda)) }
                                fieldset {
                                    legend { "Who comes (nobody ticked: everyone, also people who join later)" }
                                    // Marks that the list was sent (an empty list is everyone).
                                    input type="hidden" name=(field::WITH_SENT) value="1";
                                    @for m in &c.view.members {
                                        label.check { input type="checkbox" name=(field::WITH) value=(m.id) checked[p.attendees.contains(&m.id)]; " " (shown(&m.name)) }
                                    }
                                }
                            }))
                        }
                    }
                }
            }
        }
    }
}

/// Who wrote which part of the vision, coloured by author.
pub(super) fn blame(spans: &[BlameSpan]) -> Markup {
    let mut authors: Vec<(String, bool)> = Vec::new();
    for s in spans {
        let key = (s.author.clone(), s.verified);
        if !authors.contains(&key) {
            authors.push(key);
        }
    }
    let colour = |s: &BlameSpan| {
        authors
            .iter()
            .position(|a| a.0 == s.author && a.1 == s.verified)
            .unwrap_or(0)
            % 6
    };
    html! {
        @if spans.is_empty() { p { "The vision is not written yet." } }
        @else {
            p.legend {
                @for (n, (name, verified)) in authors.iter().enumerate() {
                    span class={"by by" (n % 6)} { (author(name, *verified)) } " "
                }
            }
            div.blame {
                @for s in spans {
                    span class={"by by" (colour(s))} title=(if s.verified { s.author.clone() } else { "unknown (not verified)".into() }) { (shown(&s.text)) }
                }
            }
        }
    }
}

pub(super) fn expectations(c: &Ctx) -> Markup {
    html! {
        @if c.view.expectations.is_empty() { p { "No expectations yet." } }
        ul.cards {
            @for e in &c.view.expectations {
                @let retired = e.status == ExpectationStatus::Retired;
                @let current: Vec<ItemId> = e.agreements.iter().filter(|g| g.current).map(|g| g.member.clone()).collect();
                @let stale: Vec<ItemId> = e.agreements.iter().filter(|g| !g.current).map(|g| g.member.clone()).collect();
                @let i_agreed = c.me.as_ref().is_some_and(|m| current.contains(m));
                li.retired[retired] #{"item-" (e.id)} {
                    p.text { @if retired { s { (shown(&e.text)) } } @else { (shown(&e.text)) } }
                    p.meta {
                        span.tag.status { (e.status.as_str()) } " "
                        (c.view.name_of(&e.holder)) "'s, of " @if e.of.is_empty() { "everyone" } @else { (names(&c.view, &e.of)) }
                        " · " (history_link(&c.aid, &c.view, &e.id))
                    }
                    p.agreed {
                        "Agreed by: " @if current.is_empty() { "nobody yet" } @else { span.agreed-by { (names(&c.view, &current)) } }
                        @if !stale.is_empty() { " · to an earlier wording: " span.stale { (names(&c.view, &stale)) } }
                    }
                    @if c.writes() && !retired {
                        @if !i_agreed { (button(&Action::ExpectAgree.path(&c.aid), "I agree", &[(field::ID, e.id.as_str())], &format!("I agree to: {}", e.text))) }
                        details {
                            summary { "Reword or retire" }
                            (form(&Action::ExpectEdit.path(&c.aid), "Save the new wording", html! {
                                input type="hidden" name=(field::ID) value=(e.id);
                                label for={"expect-" (e.id)} { "New wording (earlier agreements then no longer count)" }
                                textarea id={"expect-" (e.id)} name=(field::TEXT) rows="2" required { (crate::core::text::bidi_escaped(&e.text)) }
                            }))
                            (button(&Action::ExpectRetire.path(&c.aid), "Retire it", &[(field::ID, e.id.as_str())], "Retire this expectation"))
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn checkins(c: &Ctx) -> Markup {
    let due = crate::core::status::checkin_due(&c.view, c.now);
    html! {
        p.due {
            @match (&due.next, due.due) {
                (Some(next), true) => { "A check-in is due (it was due " (day(next)) ")." }
                (Some(next), false) => { "Next check-in: " (day(next)) "." }
                (None, _) => { "No check-in yet." }
            }
        }
        h2 { "Our check-ins" }
        @if c.view.checkins.is_empty() { p { "None yet." } }
        ul.cards {
            @for ci in c.view.checkins.iter().rev() {
                @let reflected = c.me.as_ref().is_some_and(|m| ci.reflections.iter().any(|r| &r.member == m));
                li #{"item-" (ci.id)} {
                    p.text { strong { (day(&ci.date)) } " · next in " (count(ci.next_in_days as usize, "day", "days")) @if let Some(next) = crate::device::export::next_checkin(ci) { " (" (day(&next)) ")" } " · " (history_link(&c.aid, &c.view, &ci.id)) }
                    ul {
                        @for r in &ci.reflections {
                            li { strong { (c.view.name_of(&r.member)) } " (" (r.rating) "/5): " @if r.text.is_empty() { "—" } @else { (r.text) } }
                        }
                    }
                    @if !ci.proposed_changes.is_empty() {
                        p { "Proposed changes:" }
                        ul { @for p in &ci.proposed_changes { li { (p) } } }
                    }
                    @if c.writes() && !reflected {
                        details {
                            summary { "Add my reflection" }
                            (form(&Action::CheckinReflect.path(&c.aid), "Add my reflection", html! {
                                input type="hidden" name=(field::ID) value=(ci.id);
                                (rating_select(&format!("rating-{}", ci.id)))
                                label for={"refl-" (ci.id)} { "My reflection" }
                                textarea id={"refl-" (ci.id)} name=(field::REFLECTION) rows="2" {}
                                label for={"prop-" (ci.id)} { "Changes I propose (one per line)" }
                                textarea id={"prop-" (ci.id)} name=(field::PROPOSE) rows="2" {}
                            }))
                        }
                    }
                }
            }
        }
    }
}
