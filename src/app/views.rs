//! The page's HTML, rendered on the server with maud (checked at compile time; every value
//! from the document is escaped, because it is text other people's devices wrote). Each view
//! is a layout around *parts*: sections the script re-fetches when the alliance changes.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::core::conflicts::Conflict;
use crate::core::model::{AllianceView, ExpectationStatus};
use crate::core::{ItemId, ItemKind, Timestamp};
use crate::store::OpenAlliance;

/// What a view is rendered from: the alliance as opened, and who is looking.
pub struct Ctx<'a> {
    pub open: &'a OpenAlliance,
    pub view: AllianceView,
    /// This device's person, when the device is a member.
    pub me: Option<ItemId>,
    /// This device's key (hex).
    pub device: String,
    pub now: Timestamp,
    /// The alliance's ID (hex), for links.
    pub aid: String,
    /// The devices connected right now (hex keys).
    pub online: Vec<String>,
}

/// The page's views (one URL each, under `/a/ID/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Needs,
    Plan,
    Vision,
    Expectations,
    Checkins,
    People,
}

impl Page {
    pub const ALL: [Page; 7] = [
        Page::Overview,
        Page::Needs,
        Page::Plan,
        Page::Vision,
        Page::Expectations,
        Page::Checkins,
        Page::People,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Page::Overview => "",
            Page::Needs => "needs",
            Page::Plan => "plan",
            Page::Vision => "vision",
            Page::Expectations => "expectations",
            Page::Checkins => "checkins",
            Page::People => "people",
        }
    }

    pub fn from_slug(s: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|p| p.slug() == s)
    }

    fn label(self) -> &'static str {
        match self {
            Page::Overview => "What needs me",
            Page::Needs => "1 · Needs",
            Page::Plan => "2 · Plan",
            Page::Vision => "3 · Vision",
            Page::Expectations => "3 · Expectations",
            Page::Checkins => "4 · Check-ins",
            Page::People => "People & invites",
        }
    }

    /// The live parts of this view, in order.
    pub fn parts(self) -> &'static [&'static str] {
        match self {
            Page::Overview => &["status", "changes"],
            Page::Needs => &["needs"],
            Page::Plan => &["plan"],
            // The blame part is inside the editor's view, drawn when opened.
            Page::Vision => &["vision-conflicts"],
            Page::Expectations => &["expectations"],
            Page::Checkins => &["checkins"],
            Page::People => &["devices", "members", "invites"],
        }
    }
}

fn head(title: &str, csrf: Option<&str>, aid: Option<&str>) -> Markup {
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
fn form(action: &str, label: &str, body: Markup) -> Markup {
    html! {
        form.act method="post" action=(action) {
            (body)
            button type="submit" { (label) }
            p.result role="status" aria-live="polite" {}
        }
    }
}

/// A one-button form (agree, remove, keep this...).
fn button(action: &str, label: &str, hidden: &[(&str, &str)], aria: &str) -> Markup {
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
fn shown(text: &str) -> Markup {
    html! { bdi { (crate::core::text::bidi_escaped(text)) } }
}

/// A name as the CLI prints it: the verified author, or `unknown` with a flag.
fn author(name: &str, verified: bool) -> Markup {
    html! {
        @if verified { span.who { (shown(name)) } }
        @else { span.who.unverified title="This change's signature or membership did not verify" { "unknown" } " " mark.flag { "not verified" } }
    }
}

fn history_link(aid: &str, id: &ItemId) -> Markup {
    html! { a.hist href={"/a/" (aid) "/history/" (id)} aria-label={"History of " (id)} { "history" } }
}

fn names(view: &AllianceView, ids: &[ItemId]) -> String {
    ids.iter()
        .map(|i| view.name_of(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The live part `name` of the alliance, or `None` for an unknown part.
pub fn part(name: &str, c: &Ctx<'_>) -> Option<Markup> {
    let inner = match name {
        "status" => status(c),
        "changes" => changes(c),
        "needs" => needs(c),
        "plan" => plan(c),
        "vision-conflicts" => vision_conflicts(c),
        "blame" => blame(c),
        "expectations" => expectations(c),
        "checkins" => checkins(c),
        "devices" => devices(c),
        "members" => members(c),
        "invites" => invites(c),
        _ => return None,
    };
    Some(inner)
}

fn wrap_part(aid: &str, name: &str, inner: Markup) -> Markup {
    html! {
        section.part data-part=(name) data-src={"/a/" (aid) "/part/" (name)} { (inner) }
    }
}

/// A whole view of the alliance.
pub fn page(p: Page, c: &Ctx<'_>, csrf: &str) -> Markup {
    let a = format!("/a/{}/do", c.aid);
    let parts = html! {
        @for name in p.parts() {
            @if let Some(inner) = part(name, c) { (wrap_part(&c.aid, name, inner)) }
        }
    };
    let me_member = c.me.is_some();
    let body = match p {
        Page::Overview => html! {
            (parts)
        },
        Page::Needs => html! {
            p.lead { "What each of us needs, in our own words. You can add, reword and remove your own." }
            @if me_member {
                (form(&format!("{a}/need-add"), "Add my need", html! {
                    label for="need-text" { "A need of mine" }
                    textarea #need-text name="text" rows="2" required {}
                }))
            }
            (parts)
        },
        Page::Plan => html! {
            p.lead { "When and how we sit down to design our alliance together." }
            (parts)
            @if me_member {
                h2 { "Plan a session" }
                (form(&format!("{a}/plan-add"), "Plan it", html! {
                    label for="plan-when" { "When" }
                    input #plan-when name="when" type="text" placeholder="Sunday 7pm" required;
                    label for="plan-how" { "Where or how" }
                    input #plan-how name="how" type="text" placeholder="date night at home" required;
                    label for="plan-agenda" { "What to talk about" }
                    textarea #plan-agenda name="agenda" rows="2" {}
                    fieldset {
                        legend { "Who comes (nobody ticked: everyone)" }
                        @for m in &c.view.members {
                            label.check { input type="checkbox" name="with" value=(m.id); " " (shown(&m.name)) }
                        }
                    }
                }))
            }
        },
        Page::Vision => vision_editor(c, parts),
        Page::Expectations => html! {
            p.lead { "Concrete things we expect of each other. An expectation is agreed when everyone has agreed to its current wording." }
            (parts)
            @if me_member {
                h2 { "Propose an expectation" }
                (form(&format!("{a}/expect-add"), "Propose it", html! {
                    label for="expect-text" { "The expectation" }
                    textarea #expect-text name="text" rows="2" required {}
                    label for="expect-holder" { "Whose expectation it is" }
                    select #expect-holder name="holder" {
                        @for m in &c.view.members {
                            option value=(m.id) selected[c.me.as_ref() == Some(&m.id)] { (shown(&m.name)) }
                        }
                    }
                    fieldset {
                        legend { "Of whom (nobody ticked: everyone)" }
                        @for m in &c.view.members {
                            label.check { input type="checkbox" name="of" value=(m.id); " " (shown(&m.name)) }
                        }
                    }
                }))
            }
        },
        Page::Checkins => html! {
            p.lead { "Regular check-ins to recalibrate: how is it working, and what should change?" }
            @if me_member {
                h2 { "Check in now" }
                (form(&format!("{a}/checkin-add"), "Record my check-in", html! {
                    (rating_select("checkin-rating"))
                    label for="checkin-reflection" { "My reflection" }
                    textarea #checkin-reflection name="reflection" rows="3" {}
                    label for="checkin-propose" { "Changes I propose (one per line)" }
                    textarea #checkin-propose name="propose" rows="2" {}
                    label for="checkin-next" { "Next check-in in (e.g. 10d, 2w, 1m)" }
                    input #checkin-next name="next" type="text" value="2w" required;
                }))
            }
            (parts)
        },
        Page::People => html! {
            @if me_member {
                h2 { "Invite someone" }
                p { "The ticket works once, until it expires, while this device stays online (this page open, or the device serving)." }
                (form(&format!("{a}/invite"), "Make a ticket", html! {
                    label for="invite-role" { "Their role" }
                    input #invite-role name="role" type="text" value="member" required;
                    label for="invite-expires" { "Valid for (e.g. 30m, 24h, 7d)" }
                    input #invite-expires name="expires" type="text" value="24h" required;
                }))
            }
            (parts)
        },
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
            (body)
            // The version the page was drawn at: the event stream's first event says whether
            // something changed before it started listening.
            span #page-heads hidden data-heads=(sorted_heads(c.open)) {}
        },
    )
}

fn sorted_heads(open: &OpenAlliance) -> String {
    let mut heads: Vec<String> = open
        .replica()
        .heads()
        .iter()
        .map(ToString::to_string)
        .collect();
    heads.sort();
    heads.join(",")
}

fn rating_select(id: &str) -> Markup {
    html! {
        label for=(id) { "How well is it working for me (1 to 5)" }
        select id=(id) name="rating" required {
            option value="" { "choose…" }
            option value="1" { "1: not at all" }
            option value="2" { "2" }
            option value="3" { "3" }
            option value="4" { "4" }
            option value="5" { "5: very well" }
        }
    }
}

fn vision_editor(c: &Ctx<'_>, parts: Markup) -> Markup {
    let heads: Vec<String> = c
        .open
        .replica()
        .heads()
        .iter()
        .map(ToString::to_string)
        .collect();
    html! {
        p.lead { "One text we all write together. Type away: your words go out a moment after you pause, and the others' words appear as they type, without moving your cursor." }
        (parts)
        @if c.me.is_some() {
            label for="vision" { "Our shared vision" }
            textarea #vision rows="12" spellcheck="true"
                data-heads=(heads.join(","))
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
            section.part data-part="blame" data-lazy="1" data-src={"/a/" (c.aid) "/part/blame"} {
                p.quiet { "Loading…" }
            }
        }
    }
}

// ---- parts ----

fn status(c: &Ctx<'_>) -> Markup {
    let Some(me) = &c.me else {
        return html! { p.notice { "This device is not a member of this alliance." } };
    };
    let st = match crate::device::steps::status(c.open, me, c.now) {
        Ok(s) => s,
        Err(e) => return html! { p.notice { (e.message()) } },
    };
    let a = format!("/a/{}/do", c.aid);
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
            (conflicts(&c.aid, &st.conflicts, &a))
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
                        } @else {
                            " " (button(&format!("{a}/expect-agree"), "I agree", &[("id", e.expectation.as_str())], &format!("I agree to {}", e.text)))
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

fn conflicts(aid: &str, list: &[Conflict], a: &str) -> Markup {
    html! {
        ul.cards {
            @for cf in list {
                @let vision = cf.is_text() && cf.item.is_none();
                @let item = cf.item.as_ref().map(|i| i.to_string()).unwrap_or_else(|| if vision { "vision".into() } else { "alliance".into() });
                li.conflict {
                    p {
                        strong { (cf.field) } " of " code { (item) }
                        @if let Some(i) = &cf.item { " (" (i.kind().noun()) ") · " (history_link(aid, i)) }
                        @if cf.is_text() {
                            @if let Some(line) = cf.line { ", line " (line) }
                            ": " (cf.values.len()) " people rewrote it at once"
                        } @else {
                            ": " (cf.values.len()) " values"
                        }
                    }
                    @if let Some(m) = &cf.merged { p { "Merged now: " q { (shown(m)) } } }
                    ol {
                        @for (n, v) in cf.values.iter().enumerate() {
                            li {
                                q { (shown(&v.value)) } " by " (author(&v.author, v.verified))
                                @if v.winner { " " span.tag { "shown now" } }
                                @if !cf.field.is_empty() {
                                    " " (button(&format!("{a}/resolve"), "Keep this", &[("id", &item), ("field", &cf.field), ("pick", &(n + 1).to_string())], &format!("Keep {} for {}", v.value, cf.field)))
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

fn changes(c: &Ctx<'_>) -> Markup {
    let a = format!("/a/{}/do", c.aid);
    let seen = c.open.seen().ok().and_then(|s| s.heads());
    // Never marked: everything is new here, and the whole history is not worth reading item
    // by item (the news above lists the newest); marking starts the count.
    let Some(before) = seen else {
        return html! {
            h2 { "What changed since I last looked" }
            p { "Nothing is marked as read on this device yet, so everything in the alliance is new here. Mark it as read, and from then on this shows what changed since." }
            (button(&format!("{a}/seen"), "Mark as read", &[], "Mark everything as read"))
        };
    };
    let index = c.open.change_index();
    let diff = c.open.replica().diff(&index, &before);
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
        (button(&format!("{a}/seen"), "Mark as read", &[], "Mark everything as read"))
    }
}

fn needs(c: &Ctx<'_>) -> Markup {
    let a = format!("/a/{}/do", c.aid);
    html! {
        @if c.view.needs.is_empty() { p { "No needs written down yet." } }
        @for m in &c.view.members {
            @let mine = c.me.as_ref() == Some(&m.id);
            @let list: Vec<_> = c.view.needs.iter().filter(|n| n.owner == m.id).collect();
            h2 { (shown(&m.name)) @if mine { " (you)" } }
            @if list.is_empty() { p.quiet { "Nothing yet." } }
            ul.cards {
                @for n in list {
                    li #{"item-" (n.id)} {
                        p.text { (shown(&n.text)) }
                        p.meta { (history_link(&c.aid, &n.id)) }
                        @if mine {
                            details {
                                summary { "Reword or remove" }
                                (form(&format!("{a}/need-edit"), "Save the new wording", html! {
                                    input type="hidden" name="id" value=(n.id);
                                    label for={"need-" (n.id)} { "New wording" }
                                    textarea id={"need-" (n.id)} name="text" rows="2" required { (crate::core::text::bidi_escaped(&n.text)) }
                                }))
                                (button(&format!("{a}/need-remove"), "Remove this need", &[("id", n.id.as_str())], "Remove this need"))
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
fn vision_conflicts(c: &Ctx<'_>) -> Markup {
    let index = c.open.change_index();
    let here: Vec<Conflict> = c
        .open
        .replica()
        .conflicts(Some(&index))
        .into_iter()
        .filter(|cf| cf.is_text() && cf.item.is_none())
        .collect();
    let a = format!("/a/{}/do", c.aid);
    html! {
        @if !here.is_empty() {
            div.notice role="alert" {
                h2 { "Rewritten by two people at once" }
                p { "The text below holds both wordings merged. Keep one of them; the other stays in the history." }
                (conflicts(&c.aid, &here, &a))
            }
        }
    }
}

fn plan(c: &Ctx<'_>) -> Markup {
    let a = format!("/a/{}/do", c.aid);
    let index = c.open.change_index();
    let here: Vec<Conflict> = c
        .open
        .replica()
        .conflicts(Some(&index))
        .into_iter()
        .filter(|cf| cf.item.as_ref().is_some_and(|i| i.kind() == ItemKind::Plan))
        .collect();
    html! {
        @if !here.is_empty() {
            div.notice role="alert" {
                h2 { (here.len()) " conflict(s): a session changed by two people at once" }
                (conflicts(&c.aid, &here, &a))
            }
        }
        @if c.view.plan.is_empty() { p { "No session planned yet." } }
        ul.cards {
            @for p in &c.view.plan {
                li #{"item-" (p.id)} {
                    p.text { strong.when { (shown(&p.when)) } " · " (shown(&p.how)) }
                    p.meta { "With " @if p.attendees.is_empty() { "everyone" } @else { (names(&c.view, &p.attendees)) } " · " (history_link(&c.aid, &p.id)) }
                    @if !p.agenda.trim().is_empty() { p { "Agenda: " (shown(&p.agenda)) } }
                    @if c.me.is_some() {
                        details {
                            summary { "Reschedule or change" }
                            (form(&format!("{a}/plan-edit"), "Save", html! {
                                input type="hidden" name="id" value=(p.id);
                                label for={"when-" (p.id)} { "When" }
                                input id={"when-" (p.id)} name="when" type="text" value=(crate::core::text::bidi_escaped(&p.when)) required;
                                label for={"how-" (p.id)} { "Where or how" }
                                input id={"how-" (p.id)} name="how" type="text" value=(crate::core::text::bidi_escaped(&p.how)) required;
                                label for={"agenda-" (p.id)} { "Agenda" }
                                textarea id={"agenda-" (p.id)} name="agenda" rows="2" { (crate::core::text::bidi_escaped(&p.agenda)) }
                            }))
                        }
                    }
                }
            }
        }
    }
}

fn blame(c: &Ctx<'_>) -> Markup {
    let index = c.open.change_index();
    let spans = c.open.replica().blame_vision(&index);
    let mut authors: Vec<(String, bool)> = Vec::new();
    for s in &spans {
        let key = (s.author.clone(), s.verified);
        if !authors.contains(&key) {
            authors.push(key);
        }
    }
    let colour = |s: &crate::core::history::BlameSpan| {
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
                @for s in &spans {
                    span class={"by by" (colour(s))} title=(if s.verified { s.author.clone() } else { "unknown (not verified)".into() }) { (shown(&s.text)) }
                }
            }
        }
    }
}

fn expectations(c: &Ctx<'_>) -> Markup {
    let a = format!("/a/{}/do", c.aid);
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
                        " · " (history_link(&c.aid, &e.id))
                    }
                    p.agreed {
                        "Agreed by: " @if current.is_empty() { "nobody yet" } @else { span.agreed-by { (names(&c.view, &current)) } }
                        @if !stale.is_empty() { " · to an earlier wording: " span.stale { (names(&c.view, &stale)) } }
                    }
                    @if c.me.is_some() && !retired {
                        @if !i_agreed { (button(&format!("{a}/expect-agree"), "I agree", &[("id", e.id.as_str())], &format!("I agree to: {}", e.text))) }
                        details {
                            summary { "Reword or retire" }
                            (form(&format!("{a}/expect-edit"), "Save the new wording", html! {
                                input type="hidden" name="id" value=(e.id);
                                label for={"expect-" (e.id)} { "New wording (earlier agreements then no longer count)" }
                                textarea id={"expect-" (e.id)} name="text" rows="2" required { (crate::core::text::bidi_escaped(&e.text)) }
                            }))
                            (button(&format!("{a}/expect-retire"), "Retire it", &[("id", e.id.as_str())], "Retire this expectation"))
                        }
                    }
                }
            }
        }
    }
}

fn checkins(c: &Ctx<'_>) -> Markup {
    let a = format!("/a/{}/do", c.aid);
    let due = crate::core::status::checkin_due(&c.view, c.now);
    html! {
        p.due {
            @match (&due.next, due.due) {
                (Some(next), true) => { "A check-in is due (it was due " (next) ")." }
                (Some(next), false) => { "Next check-in: " (next) "." }
                (None, _) => { "No check-in yet." }
            }
        }
        h2 { "Our check-ins" }
        @if c.view.checkins.is_empty() { p { "None yet." } }
        ul.cards {
            @for ci in c.view.checkins.iter().rev() {
                @let reflected = c.me.as_ref().is_some_and(|m| ci.reflections.iter().any(|r| &r.member == m));
                li #{"item-" (ci.id)} {
                    p.text { strong { (ci.date) } " · next in " (ci.next_in_days) " days (" (crate::device::export::next_checkin(ci).unwrap_or_else(|| "-".into())) ") · " (history_link(&c.aid, &ci.id)) }
                    ul {
                        @for r in &ci.reflections {
                            li { strong { (c.view.name_of(&r.member)) } " (" (r.rating) "/5): " @if r.text.is_empty() { "—" } @else { (r.text) } }
                        }
                    }
                    @if !ci.proposed_changes.is_empty() {
                        p { "Proposed changes:" }
                        ul { @for p in &ci.proposed_changes { li { (p) } } }
                    }
                    @if c.me.is_some() && !reflected {
                        details {
                            summary { "Add my reflection" }
                            (form(&format!("{a}/checkin-reflect"), "Add my reflection", html! {
                                input type="hidden" name="id" value=(ci.id);
                                (rating_select(&format!("rating-{}", ci.id)))
                                label for={"refl-" (ci.id)} { "My reflection" }
                                textarea id={"refl-" (ci.id)} name="reflection" rows="2" {}
                                label for={"prop-" (ci.id)} { "Changes I propose (one per line)" }
                                textarea id={"prop-" (ci.id)} name="propose" rows="2" {}
                            }))
                        }
                    }
                }
            }
        }
    }
}

fn members(c: &Ctx<'_>) -> Markup {
    html! {
        h2 { "Members" }
        ul.cards {
            @for m in &c.view.members {
                li {
                    p.text { strong { (shown(&m.name)) } @if !m.role.is_empty() { " · " (shown(&m.role)) } @if c.me.as_ref() == Some(&m.id) { " (you)" } }
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

fn devices(c: &Ctx<'_>) -> Markup {
    let rows = crate::device::steps::devices(c.open, Some(&c.device)).unwrap_or_default();
    html! {
        h2 { "Devices" }
        ul.cards {
            @for r in &rows {
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

fn invites(c: &Ctx<'_>) -> Markup {
    let list = crate::device::steps::invites(c.open)
        .map(|i| i.invites)
        .unwrap_or_default();
    let a = format!("/a/{}/do", c.aid);
    html! {
        h2 { "Invites made on this device" }
        @if list.is_empty() { p { "None yet." } }
        ul.cards {
            @for i in list.iter().rev() {
                @let status = i.status(c.now);
                li {
                    p.text { code { (i.id) } " · " (i.role) " · " span.tag { (status) } }
                    p.meta { "expires " (Timestamp(i.expires_at).short()) " UTC"
                        @if let Some(u) = &i.used_by { " · used by device " code { (crate::core::history::short(u)) } } }
                    @if status == "open" { (button(&format!("{a}/invite-revoke"), "Revoke", &[("id", &i.id)], &format!("Revoke invite {}", i.id))) }
                }
            }
        }
    }
}

/// The freshly made ticket: the line, its QR code as SVG, expiry and role.
pub fn ticket(ticket: &str, invite: &crate::core::invite::Invite) -> Markup {
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

/// `/a/ID/history/ITEM`: every version of one item.
pub fn history(c: &Ctx<'_>, id: &ItemId, csrf: &str) -> Markup {
    let index = c.open.change_index();
    let versions = c.open.replica().history(&index, id);
    let conflicts_here: Vec<_> = c
        .open
        .replica()
        .conflicts(Some(&index))
        .into_iter()
        .filter(|cf| cf.item.as_ref() == Some(id))
        .collect();
    let a = format!("/a/{}/do", c.aid);
    let body = html! {
        @if versions.is_empty() { p.notice { "No " (id.kind().noun()) " " (id) " in this alliance's history." } }
        ol.history {
            @for v in &versions {
                li {
                    p.meta { time { (v.time.short()) " UTC" } " · " (author(&v.author, v.verified)) " · device " code { (crate::core::history::short(&v.device)) } " · " @if v.verified { "verified" } @else { mark.flag { "FAILED verification" } } }
                    @if let Some(p) = &v.problem { p.notice { (p) } }
                    @let told: Vec<&String> = v.fields.iter().filter_map(|f| f.words.as_ref()).collect();
                    ul {
                        @if told.is_empty() {
                            @for f in &v.fields { li { (f.field) ": " (f.old.as_deref().unwrap_or("(none)")) " → " (f.new.as_deref().unwrap_or("(none)")) } }
                        }
                        @for w in told { li { (shown(w)) } }
                    }
                }
            }
        }
        @if !conflicts_here.is_empty() {
            h2 { "Unresolved conflicts" }
            (conflicts(&c.aid, &conflicts_here, &a))
        }
    };
    let heading = format!("History of {} {id}", id.kind().noun());
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
pub fn print(c: &Ctx<'_>) -> Markup {
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

/// First run: this device has no identity yet.
pub fn setup(csrf: &str) -> Markup {
    layout(
        "Welcome",
        csrf,
        None,
        "Welcome",
        html! {
            p.lead { "This page is served by your own device. First, your name as the others will see it." }
            (form("/setup", "Continue", html! {
                label for="setup-name" { "Your name" }
                input #setup-name name="name" type="text" autocomplete="name" required;
            }))
            p { "Already invited? " a href="/start" { "Join with a ticket" } " (you can type your name there)." }
        },
    )
}

/// Create an alliance or join one; or pick one of several.
pub fn start(csrf: &str, alliances: &[(String, String)], named: bool) -> Markup {
    layout(
        "Our alliance",
        csrf,
        None,
        if alliances.is_empty() {
            "Start"
        } else {
            "Your alliances"
        },
        html! {
            @if !alliances.is_empty() {
                ul.cards { @for (id, title) in alliances { li { a href={"/a/" (id) "/"} { (title) } } } }
            }
            h2 { "Start a new alliance" }
            @if named {
                (form("/create", "Create it", html! {
                    label for="new-title" { "Its title" }
                    input #new-title name="title" type="text" placeholder="The Okafor family" required;
                    label for="new-role" { "Your role in it" }
                    input #new-role name="role" type="text" value="member" required;
                }))
            } @else {
                p { a href="/" { "Tell us your name first" } "." }
            }
            h2 { "Join with a ticket" }
            (form("/join", "Join", html! {
                label for="join-ticket" { "The ticket you were given (one line starting with “alliance”)" }
                textarea #join-ticket name="ticket" rows="3" required {}
                @if !named {
                    label for="join-name" { "Your name" }
                    input #join-name name="name" type="text" required;
                }
            }))
        },
    )
}
