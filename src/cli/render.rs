//! Human renderings of the alliance on a terminal: `show`, the `list` commands, conflicts,
//! history, diff, status and blame. (The printable document is the device's:
//! [`crate::device::export`].)

use crate::cli::output::table;
use crate::core::model::AllianceView;
use crate::device::export::{agreed_by, average, next_checkin, of_whom};

pub fn members_table(view: &AllianceView) -> String {
    let rows: Vec<Vec<String>> = view
        .members
        .iter()
        .chain(&view.former)
        .map(|m| {
            let joined = match &m.added_by {
                None => format!("founded it {}", m.added_at.date()),
                Some(by) => format!("added by {} {}", view.name_of(by), m.added_at.date()),
            };
            vec![
                m.id.to_string(),
                m.name.clone(),
                if m.admin && m.removed.is_none() {
                    format!("{} (admin)", m.role)
                } else if m.reader {
                    format!("{} (reader)", m.role)
                } else {
                    m.role.clone()
                },
                m.devices.len().to_string(),
                match &m.removed {
                    None => joined,
                    Some(r) if r.by == m.id => format!("{joined}; left {}", r.at.date()),
                    Some(r) => format!(
                        "{joined}; removed by {} {}",
                        view.name_of(&r.by),
                        r.at.date()
                    ),
                },
            ]
        })
        .collect();
    table(&["ID", "NAME", "ROLE", "DEVICES", "JOINED"], &rows)
}

pub fn needs_table(view: &AllianceView) -> String {
    if view.needs.is_empty() {
        return "No needs yet. Add yours with `alliance need add \"...\"`.\n".into();
    }
    let rows: Vec<Vec<String>> = view
        .needs
        .iter()
        .map(|n| vec![n.id.to_string(), view.name_of(&n.owner), n.text.clone()])
        .collect();
    table(&["ID", "WHOSE", "NEED"], &rows)
}

pub fn plan_table(view: &AllianceView) -> String {
    if view.plan.is_empty() {
        return "No design session planned yet. Plan one with `alliance plan add --when ... --how ...`.\n".into();
    }
    let rows: Vec<Vec<String>> = view
        .plan
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.when.clone(),
                p.how.clone(),
                crate::device::export::attendees(view, &p.attendees),
                p.agenda.clone(),
            ]
        })
        .collect();
    table(&["ID", "WHEN", "WHERE/HOW", "WHO", "AGENDA"], &rows)
}

pub fn expectations_table(view: &AllianceView) -> String {
    if view.expectations.is_empty() {
        return "No expectations yet. Propose one with `alliance expect add \"...\"`.\n".into();
    }
    let rows: Vec<Vec<String>> = view
        .expectations
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.status.as_str().to_string(),
                format!("{} of {}", view.name_of(&e.holder), of_whom(view, e)),
                e.text.clone(),
                agreed_by(view, e),
            ]
        })
        .collect();
    table(
        &["ID", "STATUS", "WHOSE", "EXPECTATION", "AGREED BY"],
        &rows,
    )
}

pub fn checkins_text(view: &AllianceView) -> String {
    if view.checkins.is_empty() {
        return "No check-ins yet. Record one with `alliance checkin add --rating N --reflection \"...\"`.\n".into();
    }
    let mut out = String::new();
    for c in &view.checkins {
        out.push_str(&format!(
            "{}  {}  average {}  next check-in in {} days ({})\n",
            c.id,
            c.date,
            average(c),
            c.next_in_days,
            next_checkin(c).unwrap_or_else(|| "-".into())
        ));
        for r in &c.reflections {
            out.push_str(&format!(
                "    {} ({}/5): {}\n",
                view.name_of(&r.member),
                r.rating,
                if r.text.is_empty() { "-" } else { &r.text }
            ));
        }
        for p in &c.proposed_changes {
            out.push_str(&format!("    proposed: {p}\n"));
        }
    }
    out
}

/// `alliance show`: the whole alliance, step by step.
pub fn show(view: &AllianceView, changes: usize) -> String {
    let vision = if view.vision.trim().is_empty() {
        "(not written yet; `alliance vision edit`)".to_string()
    } else {
        view.vision.trim_end().to_string()
    };
    format!(
        "{title}\nalliance {id} · created {created} · {changes} changes\n\n\
         MEMBERS\n{members}\n\
         1. NEEDS\n{needs}\n\
         2. PLAN\n{plan}\n\
         3. VISION\n{vision}\n\n\
         3. EXPECTATIONS\n{expectations}\n\
         4. CHECK-INS\n{checkins}",
        title = view.title,
        id = &view.id[..12.min(view.id.len())],
        created = view.created_at.date(),
        members = members_table(view),
        needs = needs_table(view),
        plan = plan_table(view),
        expectations = expectations_table(view),
        checkins = checkins_text(view),
    )
}

fn short_device(d: &str) -> String {
    crate::core::history::short(d)
}

fn verdict(verified: bool) -> String {
    use crate::cli::output::{Paint, paint};
    if verified {
        paint(Paint::Good, "verified")
    } else {
        paint(Paint::Bad, "FAILED verification")
    }
}

/// The conflicts, each value numbered as `alliance resolve --pick` takes it.
pub fn conflicts_text(conflicts: &[crate::core::conflicts::Conflict]) -> String {
    let mut s = String::new();
    for c in conflicts {
        let item = c
            .item
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "alliance".into());
        if c.is_text() {
            s.push_str(&text_conflict_text(c, &item));
            continue;
        }
        s.push_str(&format!(
            "  {item} {}: {} values\n",
            c.field,
            c.values.len()
        ));
        for (i, v) in c.values.iter().enumerate() {
            s.push_str(&format!(
                "    {}. \"{}\" by {} ({}, {}){}\n",
                i + 1,
                crate::core::edit::excerpt(&v.value),
                crate::cli::output::one_line(&v.author),
                short_device(&v.device),
                verdict(v.verified),
                if v.winner { "  [shown now]" } else { "" }
            ));
        }
        if c.field.is_empty() {
            s.push_str("    two items were created under one ID; edit the one shown to keep it\n");
        } else {
            s.push_str(&format!(
                "    settle it: alliance resolve {item} {} --pick N  (or --value TEXT)\n",
                c.field
            ));
        }
    }
    s
}

/// A text conflict: what the merge made of the text, each person's intended wording, numbered
/// as `alliance resolve --pick` takes them.
fn text_conflict_text(c: &crate::core::conflicts::Conflict, item: &str) -> String {
    let mut s = String::new();
    let vision = c.item.is_none();
    if vision {
        s.push_str(&format!(
            "  vision, line {}: {} people rewrote the same sentence at once\n",
            c.line.unwrap_or(1),
            c.values.len()
        ));
    } else {
        s.push_str(&format!(
            "  {item} {}: {} people rewrote it at once\n",
            c.field,
            c.values.len()
        ));
    }
    s.push_str(&format!(
        "    merged now: \"{}\"\n",
        crate::cli::output::one_line(c.merged.as_deref().unwrap_or(""))
    ));
    for (i, v) in c.values.iter().enumerate() {
        s.push_str(&format!(
            "    {}. \"{}\" by {} ({}, {})\n",
            i + 1,
            crate::cli::output::one_line(&v.value),
            crate::cli::output::one_line(&v.author),
            short_device(&v.device),
            verdict(v.verified),
        ));
    }
    if vision {
        s.push_str("    settle it: alliance resolve vision --pick N  (keeps that version of the sentence)\n");
    } else {
        s.push_str(&format!(
            "    settle it: alliance resolve {item} {} --pick N  (or --value TEXT)\n",
            c.field
        ));
    }
    s
}

/// `alliance history ID`: each version with its fields, in words where they help.
pub fn history_text(
    versions: &[crate::core::history::Version],
    conflicts: &[crate::core::conflicts::Conflict],
) -> String {
    let mut s = String::new();
    for v in versions {
        s.push_str(&format!(
            "{}  {}  {} ({})  {}\n",
            &v.change[..8.min(v.change.len())],
            v.time.short(),
            crate::cli::output::one_line(&v.author),
            short_device(&v.device),
            verdict(v.verified)
        ));
        if let Some(p) = &v.problem {
            s.push_str(&format!("    ! {p}\n"));
        }
        // Bookkeeping fields (times, device keys) only when nothing else changed; `--json`
        // always has every field.
        let told: Vec<&String> = v.fields.iter().filter_map(|f| f.words.as_ref()).collect();
        if told.is_empty() {
            for f in &v.fields {
                s.push_str(&format!(
                    "    {}: {} -> {}\n",
                    f.field,
                    f.old.as_deref().unwrap_or("(none)"),
                    f.new.as_deref().unwrap_or("(none)")
                ));
            }
        }
        for words in told {
            for (i, line) in words.lines().enumerate() {
                let indent = if i == 0 { "    " } else { "      " };
                s.push_str(&format!("{indent}{line}\n"));
            }
        }
    }
    if !conflicts.is_empty() {
        s.push_str("\nUNRESOLVED CONFLICTS\n");
        s.push_str(&conflicts_text(conflicts));
    }
    s
}

/// `alliance diff`: by step, each item with what happened and who did it.
pub fn diff_text(diff: &crate::core::diff::Diff) -> String {
    if diff.steps.is_empty() {
        return format!(
            "Nothing changed ({} change(s) in between touched nothing that reads differently).",
            diff.changes
        );
    }
    let mut s = format!("{} change(s):\n", diff.changes);
    for step in &diff.steps {
        s.push_str(&format!("\n{}\n", step.step.to_uppercase()));
        for item in &step.items {
            let label = match &item.item {
                Some(i) => format!("{} {i}", i.kind().noun()),
                None if step.step == "Alliance" => "the title".into(),
                None => "the vision".into(),
            };
            // The vision's changed lines follow; its first line says nothing.
            let title = if label == "the vision" {
                String::new()
            } else {
                format!(" \"{}\"", item.title)
            };
            s.push_str(&format!(
                "  {} {label}{title} (by {})\n",
                item.what,
                crate::cli::output::one_line(&item.authors.join(", "))
            ));
            if item.what != "added" || item.item.is_none() {
                for f in item.fields.iter().filter_map(|f| f.words.as_ref()) {
                    for (i, line) in f.lines().enumerate() {
                        let indent = if i == 0 { "    " } else { "      " };
                        s.push_str(&format!("{indent}{line}\n"));
                    }
                }
            }
        }
    }
    s
}

/// `alliance status`: what needs this person's attention, most actionable first.
pub fn status_text(st: &crate::core::status::Status, now: crate::core::Timestamp) -> String {
    use crate::cli::output::{Paint, paint};
    let mut s = format!("Status for {}\n", st.name);
    let mut quiet = true;
    if !st.conflicts.is_empty() {
        quiet = false;
        s.push_str(&format!(
            "\n{}\n",
            paint(
                Paint::Attention,
                &format!("{} conflict(s): edits that collided", st.conflicts.len())
            )
        ));
        s.push_str(&conflicts_text(&st.conflicts));
    }
    if !st.to_agree.is_empty() {
        quiet = false;
        s.push_str(&format!(
            "\n{}\n",
            paint(
                Paint::Attention,
                &format!(
                    "{} expectation(s) waiting for your agreement",
                    st.to_agree.len()
                )
            )
        ));
        for e in &st.to_agree {
            s.push_str(&format!(
                "  {}  \"{}\"{}\n",
                e.expectation,
                crate::core::edit::excerpt(&e.text),
                if e.in_conflict {
                    "  (rewritten by two people at once: settle the conflict above first)"
                } else if e.stale {
                    "  (reworded since you agreed)"
                } else {
                    ""
                }
            ));
        }
        s.push_str("  agree: alliance expect agree ID\n");
    }
    let c = &st.checkin;
    if c.due {
        quiet = false;
        match (&c.last, &c.next) {
            (Some(last), Some(next)) if c.overdue_days > 0 => s.push_str(&format!(
                "\n{}: the last was {last}, the next was due {next} ({} day(s) ago)\n",
                paint(Paint::Attention, "A check-in is overdue"),
                c.overdue_days
            )),
            (Some(last), Some(next)) => s.push_str(&format!(
                "\n{} ({next}); the last was {last}\n",
                paint(Paint::Attention, "A check-in is due today")
            )),
            _ => s.push_str(&format!(
                "\n{}: `alliance checkin add` records the first\n",
                paint(Paint::Attention, "No check-in yet")
            )),
        }
    } else if let Some(next) = &c.next {
        s.push_str(&format!("\nNext check-in: {next}\n"));
    }
    if !st.without_needs.is_empty() {
        quiet = false;
        let names: Vec<&str> = st.without_needs.iter().map(|m| m.name.as_str()).collect();
        s.push_str(&format!(
            "\n{} {}\n",
            paint(Paint::Attention, "No needs shared yet by:"),
            names.join(", ")
        ));
    }
    if st.news_count > 0 {
        quiet = false;
        s.push_str(&format!(
            "\n{}\n",
            paint(
                Paint::Heading,
                &format!(
                    "{} change(s) by others since you {}",
                    st.news_count,
                    if st.seen_marked {
                        "last marked them seen"
                    } else {
                        "joined (nothing marked seen yet)"
                    }
                )
            )
        ));
        for e in &st.news {
            s.push_str(&format!(
                "  {}  {}  {}  {}{}\n",
                &e.hash[..8],
                e.time.short(),
                crate::cli::output::one_line(&e.author),
                crate::cli::output::one_line(e.what()),
                if e.verified {
                    String::new()
                } else {
                    format!("  [{}]", paint(Paint::Bad, "FAILED verification"))
                }
            ));
        }
        if st.news_count > st.news.len() {
            s.push_str(&format!(
                "  ... and {} older; `alliance diff` shows all of it\n",
                st.news_count - st.news.len()
            ));
        }
        s.push_str("  read them with `alliance diff`, then `alliance seen`\n");
    }
    for e in &st.equivocations {
        quiet = false;
        let who = e
            .member
            .as_deref()
            .map(crate::cli::output::one_line)
            .map(|n| format!("{n}'s device"))
            .unwrap_or_else(|| "a device that is not a member".to_string());
        s.push_str(&format!(
            "\n{}: {who} {} signed two different changes numbered {}\n  kept {}, left out {} and everything built on it\n  its further changes are refused; was that device restored from a backup or copied?\n",
            paint(Paint::Bad, "Equivocation"),
            crate::core::history::short(&e.device),
            e.seq,
            &e.kept[..12.min(e.kept.len())],
            &e.left_out[..12.min(e.left_out.len())],
        ));
    }
    for p in &st.quarantined_peers {
        quiet = false;
        s.push_str(&format!(
            "\n{} {}: device {} ({})\n",
            paint(Paint::Bad, "Quarantined until"),
            p.until.short(),
            crate::core::history::short(&p.device),
            crate::cli::output::one_line(&p.reason)
        ));
    }
    // Only what this device knows: members it synced with, who still lack some of yours
    // (`--json` also lists the members it never synced with).
    let behind: Vec<(String, usize)> = st
        .unshared
        .iter()
        .filter_map(|u| Some((crate::cli::output::one_line(&u.member), u.changes?)))
        .collect();
    if !behind.is_empty() {
        quiet = false;
        s.push_str("\nNot yet shared, as far as this device knows:\n");
        for (who, n) in &behind {
            s.push_str(&format!(
                "  {} not reached {who} yet\n",
                if *n == 1 {
                    "1 of your changes has".to_string()
                } else {
                    format!("{n} of your changes have")
                }
            ));
        }
        s.push_str("  `alliance sync` shares them with whoever is reachable now\n");
    }
    for k in &st.keepers {
        s.push_str(&format!(
            "\nThe keeper \"{}\": {}{}\n",
            crate::cli::output::one_line(&k.name),
            crate::device::keeper::holds_in_words(k.missing),
            k.last_sync
                .map(|t| format!("; last synced {}", t.ago(now)))
                .unwrap_or_default()
        ));
    }
    if quiet {
        s.push_str(&format!(
            "\n{}\n",
            paint(Paint::Good, "Nothing needs your attention.")
        ));
    }
    s
}

/// `alliance blame vision`: who wrote most of it, then each line with its authors, most first.
pub fn blame_text(blame: &crate::core::history::Blame) -> String {
    if blame.lines.is_empty() {
        return "The vision is not written yet.".into();
    }
    let total: usize = blame.authors.iter().map(|s| s.chars).sum::<usize>().max(1);
    let name = |s: &crate::core::history::Share| {
        if s.verified {
            crate::cli::output::one_line(&s.author)
        } else {
            "UNVERIFIED".to_string()
        }
    };
    let shares: Vec<String> = blame
        .authors
        .iter()
        .map(|s| format!("{} ({}%)", name(s), s.chars * 100 / total))
        .collect();
    let mut out = match shares.split_first() {
        Some((first, [])) => format!("Written by {first}.\n\n"),
        Some((first, rest)) => format!("Mostly written by {first}, with {}.\n\n", rest.join(", ")),
        None => String::new(),
    };
    let who: Vec<String> = blame
        .lines
        .iter()
        .map(|l| l.authors.iter().map(name).collect::<Vec<_>>().join(", "))
        .collect();
    let width = who
        .iter()
        .map(|w| crate::cli::output::width(w))
        .max()
        .unwrap_or(0);
    for (l, w) in blame.lines.iter().zip(&who) {
        out.push_str(&format!(
            "{}{} | {}\n",
            w,
            " ".repeat(width - crate::cli::output::width(w)),
            crate::cli::output::one_line(&l.text)
        ));
    }
    out.push_str("\n(`alliance blame vision --detail` shows who wrote each part of a line)\n");
    out
}

/// `alliance blame vision --detail`: each run of text with its author.
pub fn blame_spans_text(spans: &[crate::core::history::BlameSpan]) -> String {
    if spans.is_empty() {
        return "The vision is not written yet.".into();
    }
    let width = spans
        .iter()
        .map(|s| s.author.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for span in spans {
        let who = if span.verified {
            crate::cli::output::one_line(&span.author)
        } else {
            "UNVERIFIED".to_string()
        };
        for (i, line) in span.text.split('\n').enumerate() {
            if i > 0 || !line.is_empty() {
                out.push_str(&format!("{who:<width$} | {line}\n"));
            }
        }
    }
    out
}
