//! "What needs me": what needs this person's attention, and what changed since they last
//! looked.

use maud::{Markup, html};

use super::data::Ctx;
use super::pieces::{author, button, conflicts, count, day, history_link, in_words, shown, when};
use crate::app::forms::{Action, field};
use crate::core::diff::Diff;
use crate::core::status::Status;

/// What needs this person (`alliance status`): `None` when this device is not a member.
pub(super) fn status(c: &Ctx, status: Option<&Result<Box<Status>, String>>) -> Markup {
    let Some(status) = status else {
        return html! { p.notice { "This device is not a member of this alliance." } };
    };
    let founder =
        c.me.as_ref()
            .and_then(|m| c.view.member(m))
            .is_some_and(|m| m.added_by.is_none());
    let st = match status {
        Ok(s) => s,
        Err(message) => return html! { p.notice { (message) } },
    };
    let quiet = st.conflicts.is_empty()
        && st.to_agree.is_empty()
        && !st.checkin.due
        && st.without_needs.is_empty()
        && (st.news_count == 0 || st.seen_marked)
        && st.equivocations.is_empty()
        && st.quarantined_peers.is_empty();
    html! {
        p { "Hello, " (shown(&st.name)) "." }
        @if quiet { p.calm { "Nothing needs your attention." } }
        @for k in &st.keepers {
            p.keeper {
                @match k.missing {
                    Some(0) => { "The keeper “" (shown(&k.name)) "” has everything you wrote." }
                    Some(n) => { @if n == 1 { "1 of your changes has" } @else { (n) " of your changes have" } " not reached the keeper “" (shown(&k.name)) "” yet." }
                    None => { "This device has not synced with the keeper “" (shown(&k.name)) "” yet." }
                }
                @if let Some(t) = k.last_sync { " Last synced " (t.ago(c.now)) "." }
            }
        }
        @if !st.conflicts.is_empty() {
            h2 { @if st.conflicts.len() == 1 { "A conflict: two people changed the same thing at once" } @else { (st.conflicts.len()) " conflicts: people changed the same things at once" } }
            (conflicts(&c.aid, &c.view, &st.conflicts, c.writes()))
        }
        @if !st.to_agree.is_empty() {
            h2 { (count(st.to_agree.len(), "expectation", "expectations")) " waiting for your agreement" }
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
                    (Some(last), Some(next)) if ci.overdue_days > 0 => { "The last was " (day(last)) "; the next was due " (day(next)) " (" (count(ci.overdue_days as usize, "day", "days")) " ago). " }
                    (Some(last), Some(next)) => { "Due today (" (day(next)) "); the last was " (day(last)) ". " }
                    _ => { "No check-in yet. " }
                }
                a href={"/a/" (c.aid) "/checkins"} { "Check in" }
            }
        } @else if let Some(next) = &ci.next {
            p { "Next check-in: " (day(next)) "." }
        }
        @if !st.without_needs.is_empty() {
            p { "No needs shared yet by: " (shown(&st.without_needs.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))) "." }
        }
        // Once something was marked as read, "What changed since I last looked" below lists
        // the changes (once); until then, the newest are here.
        @if st.news_count > 0 && !st.seen_marked {
            h2 { (count(st.news_count, "change", "changes")) " by others " @if founder { "so far" } @else { "since you joined" } }
            ul.news {
                @for (e, what) in news_lines(&st.news) {
                    li { (when(e.time)) " " (author(&e.author, e.verified)) " " (shown(&what)) }
                }
            }
        }
        @for e in &st.equivocations {
            p.notice role="alert" {
                (e.member.as_deref().map(|m| format!("One of {m}'s devices")).unwrap_or_else(|| "A device that is not a member".into()))
                " signed two different changes with one number. Its further changes are refused; was that device restored from a backup or copied?"
            }
        }
        @for q in &st.quarantined_peers {
            p.notice { (c.view.member_of_device(&q.device).map(|m| format!("One of {}'s devices", m.name)).unwrap_or_else(|| "A device".into())) " is refused until " (when(q.until)) ": " (q.reason) }
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
            p { (count(diff.changes, "change", "changes")) ":" }
            @for step in &diff.steps {
                h3 { (step.step) }
                ul {
                    @for item in &step.items {
                        li {
                            (item.what) " "
                            @match &item.item {
                                Some(i) => { (i.kind().noun()) " " (history_link(&c.aid, &c.view, i)) }
                                None if step.step == "Alliance" => { "the title" }
                                None => { "the vision" }
                            }
                            " " q { (shown(&item.title)) } " by "
                            @for (n, who) in item.authors.iter().enumerate() {
                                @if n > 0 { ", " }
                                (author(who, who != "unknown"))
                            }
                            @if item.what != "added" || item.item.is_none() {
                                ul { @for f in item.fields.iter().filter_map(|f| f.words.as_ref()) { li { (shown(&in_words(f))) } } }
                            }
                        }
                    }
                }
            }
        }
        (button(&seen, "Mark as read", &[], "Mark everything as read"))
    }
}

/// The news in words, one line per thing done: a run of vision edits by one person (the
/// editor sends one per pause of typing) is one line, "wrote in the vision: “sorry”, “first”",
/// not one line per pause with the position it was typed at.
fn news_lines(news: &[crate::core::LogEntry]) -> Vec<(&crate::core::LogEntry, String)> {
    let typed = |e: &crate::core::LogEntry| {
        e.what()
            .strip_prefix("edited the vision at ")
            .and_then(|rest| rest.split_once(": "))
            .map(|(_, words)| words.to_string())
    };
    let mut out: Vec<(&crate::core::LogEntry, String, Vec<String>)> = Vec::new();
    for e in news {
        if let Some(words) = typed(e) {
            if let Some((first, _, pieces)) = out.last_mut()
                && !pieces.is_empty()
                && first.author == e.author
                && first.verified == e.verified
            {
                pieces.push(words);
                continue;
            }
            out.push((e, String::new(), vec![words]));
        } else {
            out.push((e, in_words(e.what()), Vec::new()));
        }
    }
    out.into_iter()
        .map(|(e, what, mut pieces)| {
            if pieces.is_empty() {
                return (e, what);
            }
            // The news is newest first: the words in the order they were typed.
            pieces.reverse();
            let quoted: Vec<String> = pieces
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| format!("“{}”", p.trim()))
                .collect();
            let what = if quoted.is_empty() {
                "edited the vision".to_string()
            } else {
                format!("wrote in the vision: {}", quoted.join(", "))
            };
            (e, what)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::news_lines;
    use crate::core::{LogEntry, Timestamp};

    fn entry(author: &str, summary: &str, t: i64) -> LogEntry {
        LogEntry {
            hash: format!("{t:08x}"),
            author: author.into(),
            member: None,
            device: String::new(),
            time: Timestamp(t),
            summary: summary.into(),
            verified: true,
            problem: None,
            equivocation: None,
        }
    }

    #[test]
    fn a_run_of_vision_typing_is_one_line_of_news_in_the_order_typed() {
        // Newest first, as the status lists them.
        let news = [
            entry("Tunde", "edited the vision at 120: first", 4),
            entry("Tunde", "edited the vision at 115: sorry ", 3),
            entry("Zoe", "added need n9j4d: More sleep", 2),
            entry("Tunde", "edited the vision at 3: We ", 1),
        ];
        let lines: Vec<String> = news_lines(&news).into_iter().map(|(_, w)| w).collect();
        assert_eq!(
            lines,
            [
                "wrote in the vision: “sorry”, “first”",
                "added a need: More sleep",
                "wrote in the vision: “We”",
            ]
        );
    }
}
