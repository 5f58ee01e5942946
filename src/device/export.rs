//! The printable document of an alliance (`alliance export --format md`, the page's `/print`):
//! Markdown a family could print, with the history and what is not settled yet.

use crate::core::model::{AllianceView, CheckIn, Expectation, ExpectationStatus};
use crate::core::{ItemId, Timestamp};

pub(crate) fn names(view: &AllianceView, ids: &[ItemId]) -> String {
    ids.iter()
        .map(|i| view.name_of(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who comes to a design session: "everyone" for an empty list (people who join later too).
pub(crate) fn attendees(view: &AllianceView, ids: &[ItemId]) -> String {
    if ids.is_empty() {
        "everyone".into()
    } else {
        names(view, ids)
    }
}

pub(crate) fn of_whom(view: &AllianceView, e: &Expectation) -> String {
    if e.of.is_empty() {
        "everyone".into()
    } else {
        names(view, &e.of)
    }
}

pub(crate) fn agreed_by(view: &AllianceView, e: &Expectation) -> String {
    let current: Vec<ItemId> = e
        .agreements
        .iter()
        .filter(|a| a.current)
        .map(|a| a.member.clone())
        .collect();
    let stale: Vec<ItemId> = e
        .agreements
        .iter()
        .filter(|a| !a.current)
        .map(|a| a.member.clone())
        .collect();
    let mut s = if current.is_empty() {
        "nobody yet".to_string()
    } else {
        names(view, &current)
    };
    if !stale.is_empty() {
        s.push_str(&format!(
            " (to an earlier wording: {})",
            names(view, &stale)
        ));
    }
    s
}

/// Next check-in date: the check-in's date plus its cadence.
pub fn next_checkin(c: &CheckIn) -> Option<String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(&c.date, &fmt).ok()?;
    let next = d.checked_add(time::Duration::days(i64::from(c.next_in_days)))?;
    next.format(&fmt).ok()
}

pub(crate) fn average(c: &CheckIn) -> String {
    let rated: Vec<u8> = c
        .reflections
        .iter()
        .map(|r| r.rating)
        .filter(|r| *r > 0)
        .collect();
    if rated.is_empty() {
        return "-".into();
    }
    let avg = rated.iter().map(|r| f64::from(*r)).sum::<f64>() / rated.len() as f64;
    format!("{avg:.1}/5")
}

/// The appendix of `alliance export --format md --history`: every change, oldest first, with
/// its verified author, or a mark that it failed verification.
pub fn markdown_history(log: &[crate::core::LogEntry]) -> String {
    let mut md = String::from("\n## Appendix: how we got here\n\n");
    md.push_str(&format!(
        "*Every change to this alliance, oldest first: {} change(s), {} verified by their authors' signatures.*\n\n",
        log.len(),
        log.iter().filter(|e| e.verified).count()
    ));
    md.push_str("| When (UTC) | Who | What | Change | Signature |\n|---|---|---|---|---|\n");
    for e in log.iter().rev() {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` | {} |\n",
            e.time.short(),
            e.author,
            e.what().replace('|', "\\|").replace('\n', " "),
            &e.hash[..8.min(e.hash.len())],
            if e.verified {
                format!(
                    "verified (device `{}`)",
                    crate::core::history::short(&e.device)
                )
            } else {
                format!(
                    "**FAILED**: {}",
                    e.problem.as_deref().unwrap_or("does not verify")
                )
            }
        ));
    }
    md
}

/// The printable document for a page (`/print`): [`markdown`] of the alliance with every bit of
/// its text taken literally ([`markdown_literal_text`]), so that nobody's words become markup
/// (a link, a picture, a heading) there.
pub fn markdown_literal(view: &AllianceView, exported: Timestamp) -> String {
    let mut v = view.clone();
    let lit = markdown_literal_text;
    v.title = lit(&v.title);
    v.vision = lit(&v.vision);
    for m in v.members.iter_mut().chain(v.former.iter_mut()) {
        m.name = lit(&m.name);
        m.role = lit(&m.role);
    }
    for n in &mut v.needs {
        n.text = lit(&n.text);
    }
    for p in &mut v.plan {
        p.when = lit(&p.when);
        p.how = lit(&p.how);
        p.agenda = lit(&p.agenda);
    }
    for e in &mut v.expectations {
        e.text = lit(&e.text);
    }
    for c in &mut v.checkins {
        for r in &mut c.reflections {
            r.text = lit(&r.text);
        }
        for p in &mut c.proposed_changes {
            *p = lit(p);
        }
    }
    markdown(&v, exported)
}

/// `text` as Markdown that reads as exactly this text: every ASCII punctuation character
/// backslash-escaped (no emphasis, link, image, code, HTML, entity, list or heading can start),
/// except `|`, which [`markdown`] escapes itself where it writes a table; each line's leading
/// spaces dropped (no indented code block); bidirectional controls shown escaped
/// ([`crate::core::text::bidi_escaped`]).
pub fn markdown_literal_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for c in crate::core::text::bidi_escaped(line.trim_start()).chars() {
            if c.is_ascii_punctuation() && c != '|' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// `alliance export --format md`: a document a family could print.
pub fn markdown(view: &AllianceView, exported: Timestamp) -> String {
    let mut md = format!("# {}\n\n", view.title);
    md.push_str(&format!(
        "*Our designed alliance, founded {}. Exported {}.*\n\n",
        view.created_at.date(),
        exported.date()
    ));
    md.push_str("## Who we are\n\n");
    for m in &view.members {
        let role = if m.role.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.role)
        };
        md.push_str(&format!("- **{}**{role}\n", m.name));
    }
    md.push_str("\n## 1. What each of us needs\n\n");
    if view.needs.is_empty() {
        md.push_str("*Nothing written down yet.*\n");
    }
    for m in &view.members {
        let needs: Vec<_> = view.needs.iter().filter(|n| n.owner == m.id).collect();
        if needs.is_empty() {
            continue;
        }
        md.push_str(&format!("### {}\n\n", m.name));
        for n in needs {
            md.push_str(&format!("- {}\n", n.text));
        }
        md.push('\n');
    }
    md.push_str("\n## 2. How we sit down to design it\n\n");
    if view.plan.is_empty() {
        md.push_str("*No session planned yet.*\n");
    }
    for p in &view.plan {
        md.push_str(&format!(
            "- **{}**, {} — with {}\n",
            p.when,
            p.how,
            attendees(view, &p.attendees)
        ));
        if !p.agenda.trim().is_empty() {
            md.push_str(&format!("  - Agenda: {}\n", p.agenda.trim()));
        }
    }
    md.push_str("\n## 3. Our vision and what we expect of each other\n\n### The vision\n\n");
    if view.vision.trim().is_empty() {
        md.push_str("*Not written yet.*\n");
    } else {
        // Each line of the vision its own paragraph (Markdown would join them into one).
        let paragraphs: Vec<String> = view
            .vision
            .trim_end()
            .lines()
            .map(|line| format!("> {}", line.trim_end()))
            .collect();
        md.push_str(&paragraphs.join("\n>\n"));
        md.push('\n');
    }
    md.push_str("\n### What we expect of each other\n\n");
    let live: Vec<_> = view
        .expectations
        .iter()
        .filter(|e| e.status != ExpectationStatus::Retired)
        .collect();
    if live.is_empty() {
        md.push_str("*No expectations yet.*\n");
    } else {
        md.push_str(
            "| Expectation | Whose | Of whom | Status | Agreed by |\n|---|---|---|---|---|\n",
        );
        for e in &live {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                e.text.replace('|', "\\|").replace('\n', " "),
                view.name_of(&e.holder),
                of_whom(view, e),
                e.status.as_str(),
                agreed_by(view, e)
            ));
        }
    }
    let retired: Vec<_> = view
        .expectations
        .iter()
        .filter(|e| e.status == ExpectationStatus::Retired)
        .collect();
    if !retired.is_empty() {
        md.push_str("\nRetired:\n\n");
        for e in retired {
            md.push_str(&format!("- ~~{}~~\n", e.text.replace('\n', " ")));
        }
    }
    md.push_str("\n## 4. Our check-ins\n\n");
    if view.checkins.is_empty() {
        md.push_str("*No check-ins yet.*\n");
    }
    for c in &view.checkins {
        md.push_str(&format!("### {} (average {})\n\n", c.date, average(c)));
        for r in &c.reflections {
            md.push_str(&format!(
                "- **{}** ({}/5): {}\n",
                view.name_of(&r.member),
                r.rating,
                if r.text.is_empty() { "—" } else { &r.text }
            ));
        }
        if !c.proposed_changes.is_empty() {
            md.push_str("\nProposed changes:\n\n");
            for p in &c.proposed_changes {
                md.push_str(&format!("- {p}\n"));
            }
        }
        md.push_str(&format!(
            "\nNext check-in: in {} days ({}).\n\n",
            c.next_in_days,
            next_checkin(c).unwrap_or_else(|| "-".into())
        ));
    }
    md
}

/// The printable document's part on conflicts not settled yet (empty when there are none).
pub fn markdown_conflicts(conflicts: &[crate::core::conflicts::Conflict]) -> String {
    if conflicts.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n## Not settled yet\n\n");
    for c in conflicts {
        let what = match (&c.item, c.is_text()) {
            (Some(i), true) => format!(
                "The {} of {} {i} was rewritten by several people at once",
                c.field,
                i.kind().noun()
            ),
            (None, true) => format!(
                "Line {} of the vision was rewritten by several people at once",
                c.line.unwrap_or(1)
            ),
            (Some(i), false) => format!(
                "The {} of {} {i} was set to several values at once",
                c.field,
                i.kind().noun()
            ),
            (None, false) => format!(
                "The alliance's {} was set to several values at once",
                c.field
            ),
        };
        s.push_str(&format!("- {what}:"));
        let versions: Vec<String> = c
            .values
            .iter()
            .map(|v| format!("\"{}\" ({})", one_line(&v.value), one_line(&v.author)))
            .collect();
        s.push_str(&format!(" {}", versions.join(" or ")));
        if let Some(m) = &c.merged {
            s.push_str(&format!("; it reads now \"{}\"", one_line(m)));
        }
        s.push_str(".\n");
    }
    s
}

/// `text` on one line (line breaks as spaces).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
