//! Reading back: one item's history (every version, who, which device, verified or not) and
//! the printable page.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::data::{Ctx, HistoryData, Page};
use super::pieces::{
    author, conflicts, describe, field_words, head, in_words, layout, shown, value_words, when,
};

/// `/a/ID/history/ITEM`: every version of one item.
pub fn history(c: &Ctx, h: &HistoryData, csrf: &str) -> Markup {
    let versions = &h.versions;
    let what = describe(&c.view, &h.id);
    let body = html! {
        @if versions.is_empty() { p.notice { "Nothing about " (shown(&what)) " is in this alliance's history." } }
        ol.history {
            @for v in versions {
                li {
                    p.meta { (when(v.time)) " · " (author(&v.author, v.verified)) " · " @if v.verified { "verified" } @else { mark.flag { "FAILED verification" } } }
                    @if let Some(p) = &v.problem { p.notice { (p) } }
                    @let told: Vec<&String> = v.fields.iter().filter_map(|f| f.words.as_ref()).collect();
                    ul {
                        @if told.is_empty() {
                            @for f in &v.fields { li { (field_words(&c.view, &f.field)) ": " (shown(&f.old.as_deref().map(|v| value_words(&c.view, v)).unwrap_or_else(|| "nothing".into()))) " → " (shown(&f.new.as_deref().map(|v| value_words(&c.view, v)).unwrap_or_else(|| "nothing".into()))) } }
                        }
                        @for w in told { li { (shown(&in_words(w))) } }
                    }
                }
            }
        }
        @if !h.conflicts.is_empty() {
            h2 { "Unresolved conflicts" }
            (conflicts(&c.aid, &c.view, &h.conflicts, c.writes()))
        }
    };
    let heading = format!("History of {what}");
    layout(
        &heading,
        csrf,
        Some((&c.aid, &c.view.title, Page::Overview)),
        &heading,
        body,
    )
}

/// `/a/ID/print`: the Markdown export (`alliance export --format md`) as HTML, every bit of
/// document text taken literally (`[a](url)` or `<b>` in a need is shown as typed, never made
/// a link or markup).
pub fn print(c: &Ctx) -> Markup {
    use pulldown_cmark::{Event, Options, Parser, html::push_html};
    let md = crate::device::export::markdown_literal(&c.view, c.now);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(&md, options).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        e => e,
    });
    let mut out = String::new();
    push_html(&mut out, events);
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(&c.view.title, None, None)) }
            body.print {
                main #main {
                    p.noprint { a href={"/a/" (c.aid) "/"} { "← back" } " · use your browser's Print to print this page" }
                    article { (PreEscaped(out)) }
                }
            }
        }
    }
}
