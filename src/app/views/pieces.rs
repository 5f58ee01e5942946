//! The pieces every view is built of: the layout, forms and one-button forms, people's text
//! shown safely, authors, links to an item's history, conflicts with **Keep this**.

use maud::{DOCTYPE, Markup, html};

use super::data::Page;
use crate::app::forms::{Action, field};
use crate::core::conflicts::Conflict;
use crate::core::{AllianceView, ItemId, Timestamp};

pub(super) fn head(title: &str, csrf: Option<&str>, aid: Option<&str>) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        @if let Some(c) = csrf { meta name="alliance-csrf" content=(c); }
        @if let Some(a) = aid { meta name="alliance-id" content=(a); }
        title { (crate::core::text::bidi_escaped(title)) }
        link rel="stylesheet" href="/assets/app.css";
        script src="/assets/app.js" defer {}
    }
}

/// A page around `body`, with the step navigation when an alliance is open.
pub fn layout(
    title: &str,
    csrf: &str,
    nav: Option<(&str, &str, Page)>,
    heading: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, Some(csrf), nav.map(|n| n.0))) }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    @if let Some((aid, alliance_title, current)) = nav {
                        p.brand { a href={"/a/" (aid) "/"} { (shown(alliance_title)) } }
                        nav aria-label="Steps" {
                            ul {
                                @for p in Page::ALL {
                                    li { a href={"/a/" (aid) "/" (p.slug())} aria-current=[(p == current).then_some("page")] { (p.label()) } }
                                }
                                li { a href={"/a/" (aid) "/print"} { "Print" } }
                            }
                        }
                    } @else {
                        p.brand { "Our alliance" }
                    }
                }
                main #main {
                    h1 { (shown(heading)) }
                    div #flash role="status" aria-live="polite" {}
                    (body)
                }
                footer {
                    p { "Served by this device only, for you. Every name shown comes from a verified signature." }
                    @if nav.is_some() { p { a href="/start" { "All alliances on this device, or start or join another" } } }
                }
            }
        }
    }
}

/// What a device that is no longer in the alliance says on every page: since when, by whom,
/// and that nothing written on it goes anywhere.
pub(super) fn gone(title: &str, gone: &super::data::Gone) -> Markup {
    use super::data::Gone;
    html! {
        div.notice role="alert" {
            p {
                strong { "This device is no longer in “" (shown(title)) "”: " }
                @match gone {
                    Gone::Left(at) => { "you left it on " (on_day(*at)) "." }
                    Gone::Removed { by, at } => { (shown(by)) " removed you on " (on_day(*at)) "." }
                    Gone::DeviceRemoved { by, at } => { (shown(by)) " removed this device on " (on_day(*at)) "." }
                }
            }
            p { "Nothing written here goes to anyone any more: the others' devices do not accept it. What this device holds stays readable here." }
        }
    }
}

/// A refusal or error page: plain words, no data, no script needed.
pub fn refusal(message: &str) -> axum::response::Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { "Our alliance" } link rel="stylesheet" href="/assets/app.css"; }
            body { main #main { h1 { "Our alliance" } p.notice role="alert" { (message) } } }
        }
    };
    axum::response::Html(page.into_string())
}

/// A form the script sends (with the CSRF header) to `action`; its answer shows in the form.
pub(super) fn form(action: &str, label: &str, body: Markup) -> Markup {
    html! {
        form.act method="post" action=(action) {
            (body)
            button type="submit" { (label) }
            p.result role="status" aria-live="polite" {}
        }
    }
}

/// A one-button form (agree, remove, keep this...).
pub(super) fn button(action: &str, label: &str, hidden: &[(&str, &str)], aria: &str) -> Markup {
    html! {
        form.act.inline method="post" action=(action) {
            @for (k, v) in hidden { input type="hidden" name=(k) value=(v); }
            button type="submit" aria-label=(crate::core::text::bidi_escaped(aria)) { (label) }
            span.result role="status" aria-live="polite" {}
        }
    }
}

/// Text people wrote, as it is stored: isolated from the text around it (`<bdi>`), and with any
/// bidirectional control (which would make "Ada evil" read "Ada live") shown visibly, escaped as
/// the terminal shows it (`\u{202e}`). New text cannot hold one (the core refuses it); older
/// text, or a peer's, may.
pub(super) fn shown(text: &str) -> Markup {
    html! { bdi { (crate::core::text::bidi_escaped(text)) } }
}

/// A name as the CLI prints it: the verified author, or `unknown` with a flag.
pub(super) fn author(name: &str, verified: bool) -> Markup {
    html! {
        @if verified { span.who { (shown(name)) } }
        @else { span.who.unverified title="This change's signature or membership did not verify" { "unknown" } " " mark.flag { "not verified" } }
    }
}

/// A link to an item's history; screen readers hear what it is the history of, in words.
pub(super) fn history_link(aid: &str, view: &AllianceView, id: &ItemId) -> Markup {
    html! { a.hist href={"/a/" (aid) "/history/" (id)} aria-label={"History of " (crate::core::text::bidi_escaped(&describe(view, id)))} { "history" } }
}

/// An item in words, never by its ID: "Zoe", "Zoe's need “More sleep”", "the design session
/// of Sunday 7pm", "the expectation “Phones off at dinner”", "the check-in of 2026-12-07".
pub fn describe(view: &AllianceView, id: &ItemId) -> String {
    use crate::core::ItemKind;
    let quoted = |text: &str| {
        let t = crate::core::edit::excerpt(text);
        format!("“{t}”")
    };
    match id.kind() {
        ItemKind::Member => view.name_of(id),
        ItemKind::Need => match view.needs.iter().find(|n| &n.id == id) {
            Some(n) => format!("{}'s need {}", view.name_of(&n.owner), quoted(&n.text)),
            None => "a need that was removed".into(),
        },
        ItemKind::Plan => match view.plan.iter().find(|p| &p.id == id) {
            Some(p) => format!("the design session of {}", p.when.trim()),
            None => "a design session".into(),
        },
        ItemKind::Expectation => match view.expectation(id) {
            Some(e) => format!("the expectation {}", quoted(&e.text)),
            None => "an expectation".into(),
        },
        ItemKind::CheckIn => match view.checkins.iter().find(|c| &c.id == id) {
            Some(c) => format!("the check-in of {}", c.date),
            None => "a check-in".into(),
        },
    }
}

/// A moment in the reader's own time zone: `<time datetime>` with the instant, which the
/// script writes out in the browser's zone and language; before it runs (or without it), the
/// words say UTC.
pub(super) fn when(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) data-local="datetime" { (t.short()) " UTC" } }
}

/// A day in the reader's own time zone (as [`when`]).
pub(super) fn on_day(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) data-local="date" { (t.date()) } }
}

/// A calendar day as the document keeps it ("2026-12-21"), written out in the reader's
/// language by the script (as that day, in no time zone).
pub(super) fn day(date: &str) -> Markup {
    html! { time datetime=(date) data-local="day" { (date) } }
}

/// "1 change", "2 changes": a count with its noun, never "change(s)".
pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub(super) fn names(view: &AllianceView, ids: &[ItemId]) -> String {
    ids.iter()
        .map(|i| view.name_of(i))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn rating_select(id: &str) -> Markup {
    html! {
        label for=(id) { "How well is it working for me (1 to 5)" }
        select id=(id) name=(field::RATING) required {
            option value="" { "choose…" }
            option value="1" { "1: not at all" }
            option value="2" { "2" }
            option value="3" { "3" }
            option value="4" { "4" }
            option value="5" { "5: very well" }
        }
    }
}

/// Unresolved conflicts, each value with its author and **Keep this** (an [`Action::Resolve`]).
/// The conflicts in `list`, each value with a "Keep this" button when `writes` (a reader sees
/// them and settles none).
pub(super) fn conflicts(aid: &str, view: &AllianceView, list: &[Conflict], writes: bool) -> Markup {
    html! {
        ul.cards {
            @for cf in list {
                @let vision = cf.is_text() && cf.item.is_none();
                @let item = cf.item.as_ref().map(|i| i.to_string()).unwrap_or_else(|| if vision { "vision".into() } else { "alliance".into() });
                li.conflict {
                    p {
                        @if vision {
                            strong { "The vision" }
                            @if let Some(line) = cf.line { ", line " (line) }
                        } @else if let Some(i) = &cf.item {
                            strong { "The " (field_words(view, &cf.field)) " of " (shown(&describe(view, i))) }
                            " · " (history_link(aid, view, i))
                        } @else {
                            strong { "The alliance's " (cf.field) }
                        }
                        @if cf.is_text() {
                            ": " (cf.values.len()) " people rewrote it at once"
                        } @else {
                            ": " (cf.values.len()) " people changed it at once"
                        }
                    }
                    @if let Some(m) = &cf.merged { p { "Merged now: " q { (shown(m)) } } }
                    ol {
                        @for (n, v) in cf.values.iter().enumerate() {
                            li {
                                q { (shown(&v.value)) } " by " (author(&v.author, v.verified))
                                @if v.winner { " " span.tag { "shown now" } }
                                @if writes && !cf.field.is_empty() {
                                    " " (button(&Action::Resolve.path(aid), "Keep this", &[(field::ID, &item), (field::FIELD, &cf.field), (field::PICK, &(n + 1).to_string())], &format!("Keep “{}” by {} for the {}", v.value, v.author, field_words(view, &cf.field))))
                                }
                            }
                        }
                    }
                    @if cf.field.is_empty() { p { "Two items were created under one ID; edit the one shown to keep it." } }
                }
            }
        }
    }
}

/// A field's value as words: a member by name, a device as whose it is, else as written.
pub(super) fn value_words(view: &AllianceView, value: &str) -> String {
    let bare = value.trim_matches('"');
    if let Ok(id) = bare.parse::<ItemId>()
        && view.member(&id).is_some()
    {
        return view.name_of(&id);
    }
    if bare.len() == 64 && bare.chars().all(|c| c.is_ascii_hexdigit()) {
        return match view.member_of_device(bare) {
            Some(m) => format!("{}'s device", m.name),
            None => "a device".to_string(),
        };
    }
    value.to_string()
}

/// A field's name as words: "created by", not `created_by`; "agreements · Zoe · text
/// digest", not `agreements.m4k2x.text_digest` (a member by name, a device key left out).
pub(super) fn field_words(view: &AllianceView, field: &str) -> String {
    field
        .split('.')
        .map(|part| match part {
            "when" => "time".to_string(),
            "how" => "place".to_string(),
            p if p.parse::<ItemId>().is_ok() => {
                view.name_of(&p.parse().unwrap_or_else(|_| unreachable!()))
            }
            p if p.len() >= 32 && p.chars().all(|c| c.is_ascii_hexdigit()) => {
                match view.member_of_device(p) {
                    Some(m) => format!("{}'s device", m.name),
                    None => "a device".to_string(),
                }
            }
            p => p.replace('_', " "),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A change's summary (as the core writes it: "added need n9j4d: More sleep", "linked device
/// 3f2a9c01de to Zoe (m4x2k)") in the family's words: item IDs and device keys left out, the
/// thing named with an article instead ("added a need: More sleep", "linked a device to Zoe").
pub fn in_words(summary: &str) -> String {
    let nouns = [
        "need",
        "expectation",
        "check-in",
        "session",
        "member",
        "device",
    ];
    let mut out: Vec<String> = Vec::new();
    for token in summary.split(' ') {
        let core = token.trim_matches(|c: char| "():,".contains(c));
        // The core writes an ID after its noun ("need n9j4d") or in brackets ("(m4x2k)").
        let after_noun = out.last().is_some_and(|w| nouns.contains(&w.as_str()));
        let is_id = core.parse::<ItemId>().is_ok() && (token.starts_with('(') || after_noun);
        let is_key = core.len() >= 8 && core.chars().all(|c| c.is_ascii_hexdigit());
        if !core.is_empty() && (is_id || is_key) {
            // Keep what followed the ID ("n9j4d:" leaves ":"), drop the rest of the token.
            let tail: String = token
                .chars()
                .rev()
                .take_while(|c| ":,".contains(*c))
                .collect();
            if let Some(last) = out.last() {
                if nouns.contains(&last.as_str()) {
                    let noun = out.pop().unwrap_or_default();
                    let design = out.last().is_some_and(|w| w == "design");
                    if design {
                        out.pop();
                    }
                    let first = out
                        .last()
                        .is_none_or(|w| matches!(w.as_str(), "added" | "planned" | "linked"));
                    out.push(if first { "a" } else { "the" }.to_string());
                    if design {
                        out.push("design".into());
                    }
                    out.push(noun);
                }
                last_push(&mut out, &tail);
            }
            continue;
        }
        out.push(token.to_string());
    }
    out.join(" ").replace(" :", ":").replace(" ,", ",")
}

fn last_push(out: &mut [String], tail: &str) {
    if let Some(last) = out.last_mut() {
        last.push_str(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::in_words;

    #[test]
    fn summaries_in_the_news_name_things_without_their_ids() {
        for (summary, words) in [
            ("added need n9j4d: More sleep", "added a need: More sleep"),
            ("edited need n9j4d: More naps", "edited the need: More naps"),
            (
                "agreed to expectation e7kq2: Phones off",
                "agreed to the expectation: Phones off",
            ),
            (
                "planned design session p3abc: Sunday, at home",
                "planned a design session: Sunday, at home",
            ),
            (
                "linked device 3f2a9c01de to Zoe (m4x2k)",
                "linked a device to Zoe",
            ),
            (
                "removed Zoe (m4x2k) from the alliance",
                "removed Zoe from the alliance",
            ),
            ("needs more plans", "needs more plans"),
            (
                "device 90929a1155 joined, added by Ada",
                "a device joined, added by Ada",
            ),
        ] {
            assert_eq!(in_words(summary), words, "{summary}");
        }
    }
}
