//! The alliance as a calendar (`alliance export --format ics`, the page's "Add to calendar"):
//! an iCalendar file (RFC 5545, written by the `icalendar` crate, which folds long lines and
//! escapes text) with each design session whose time can be read as an event, and the
//! check-in cadence as one recurring event. Times are floating (the family's local time, as
//! they typed it); UIDs are stable (the item's ID and the alliance's), so importing the file
//! again updates the events instead of adding them twice.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use icalendar::{Calendar, Component, Event, EventLike};
use serde::Serialize;

use crate::core::ids::Timestamp;
use crate::core::model::AllianceView;
use crate::core::seed::{Start, prompts};
use crate::core::{ItemId, calendar};

/// The file and what it could not place.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// The iCalendar text (CRLF line ends).
    #[serde(skip)]
    pub ics: String,
    /// How many design sessions are in it, and whether the check-in cadence is.
    pub sessions: usize,
    pub cadence: bool,
    /// Sessions whose time names no day this can read ("some evening next week"): left out.
    pub unplaced: Vec<Unplaced>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unplaced {
    pub id: ItemId,
    pub when: String,
}

fn date(d: time::Date) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), u8::from(d.month()).into(), d.day().into())
        .unwrap_or_default()
}

/// Text from the document without control characters (a calendar line cannot hold them; new
/// lines are kept, and escaped by the writer).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

/// A UID stable across exports: what it is about and the alliance's ID.
fn uid(what: &str, view: &AllianceView) -> String {
    format!("{what}.{}@alliance", &view.id[..view.id.len().min(16)])
}

/// The calendar of `view` as of `now` (its DTSTAMP).
pub fn ics(view: &AllianceView, now: Timestamp) -> Exported {
    let stamp = Utc
        .timestamp_opt(now.0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let title = clean(&view.title);
    let mut cal = Calendar::new();
    cal.name(&title);
    let mut unplaced = Vec::new();
    let mut sessions = 0;
    for p in &view.plan {
        let Some(when) = calendar::session_when(p) else {
            unplaced.push(Unplaced {
                id: p.id.clone(),
                when: p.when.clone(),
            });
            continue;
        };
        let with = crate::device::export::names(view, &p.attendees);
        let mut description = String::new();
        if !p.agenda.trim().is_empty() {
            description.push_str(&format!("Agenda: {}\n", p.agenda.trim()));
        }
        description.push_str(&format!("With {with}.\nPlanned as \"{}\".", p.when));
        let mut event = Event::new();
        event
            .uid(&uid(p.id.as_str(), view))
            .timestamp(stamp)
            .summary(&clean(&format!("Design session: {}", p.how)))
            .location(&clean(&p.how))
            .description(&clean(&description));
        if let Some(created) = Utc.timestamp_opt(p.created_at.0, 0).single() {
            event.created(created);
        }
        match when.time {
            Some(t) => {
                let start = NaiveDateTime::new(
                    date(when.date),
                    NaiveTime::from_hms_opt(t.hour().into(), t.minute().into(), 0)
                        .unwrap_or_default(),
                );
                event.starts(start).ends(start + chrono::Duration::hours(1));
            }
            None => {
                let day = date(when.date);
                event.starts(day).ends(day + chrono::Duration::days(1));
            }
        }
        cal.push(event.done());
        sessions += 1;
    }
    let cadence = calendar::checkin_cadence(view);
    if let Some((next, every)) = cadence {
        let rule = if every % 7 == 0 {
            format!("FREQ=WEEKLY;INTERVAL={}", every / 7)
        } else {
            format!("FREQ=DAILY;INTERVAL={every}")
        };
        let ask = prompts(Start::of(&view.start), 4)
            .map(|p| p.questions.join("\n"))
            .unwrap_or_default();
        let day = date(next);
        let mut event = Event::new();
        event
            .uid(&uid("checkins", view))
            .timestamp(stamp)
            .summary(&format!("Check-in: {title}"))
            .description(&clean(&format!(
                "Every {every} days, as the last check-in agreed.\n{ask}"
            )))
            .starts(day)
            .ends(day + chrono::Duration::days(1))
            .add_property("RRULE", rule);
        cal.push(event.done());
    }
    Exported {
        ics: cal.done().to_string(),
        sessions,
        cadence: cadence.is_some(),
        unplaced,
    }
}
