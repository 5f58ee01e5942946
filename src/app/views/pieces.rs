//! The pieces every view is built of: the layout, forms and one-button forms, people's text
//! shown safely, authors, links to an item's history, conflicts with **Keep this**.

use maud::{DOCTYPE, Markup, html};

use super::data::Page;
use crate::app::forms::{Action, field};
use crate::core::conflicts::Conflict;
use crate::core::{AllianceView, ItemId};

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

pub(super) fn history_link(aid: &str, id: &ItemId) -> Markup {
    html! { a.hist href={"/a/" (aid) "/history/" (id)} aria-label={"History of " (id)} { "history" } }
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
pub(super) fn conflicts(aid: &str, list: &[Conflict], writes: bool) -> Markup {
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
                            strong { "The " (cf.field) " of this " (i.kind().noun()) }
                            " · " (history_link(aid, i))
                        } @else {
                            strong { "The alliance's " (cf.field) }
                        }
                        @if cf.is_text() {
                            ": " (cf.values.len()) " people rewrote it at once"
                        } @else {
                            ": " (cf.values.len()) " people set it at once"
                        }
                    }
                    @if let Some(m) = &cf.merged { p { "Merged now: " q { (shown(m)) } } }
                    ol {
                        @for (n, v) in cf.values.iter().enumerate() {
                            li {
                                q { (shown(&v.value)) } " by " (author(&v.author, v.verified))
                                @if v.winner { " " span.tag { "shown now" } }
                                @if writes && !cf.field.is_empty() {
                                    " " (button(&Action::Resolve.path(aid), "Keep this", &[(field::ID, &item), (field::FIELD, &cf.field), (field::PICK, &(n + 1).to_string())], &format!("Keep {} for {}", v.value, cf.field)))
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
