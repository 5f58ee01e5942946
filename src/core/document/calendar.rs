//! When things happen, read from what people wrote: a design session's `when` ("2026-12-12
//! 19:00", "Saturday 10am", "tomorrow 7pm") as a day and perhaps a time of day, and the
//! check-in cadence (the latest check-in's date plus its `next_in_days`). The calendar export
//! (`alliance export --format ics`) and the reminders read these. Times are the family's own
//! local time, as they typed them (a calendar's "floating" time). No I/O.

use time::{Date, Duration, Month, Time, Weekday};

use crate::core::ids::Timestamp;
use crate::core::model::{AllianceView, PlanSession};

/// A session's start: a day, and a time of day when one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub date: Date,
    pub time: Option<Time>,
}

/// The UTC day of a timestamp.
pub fn day_of(t: Timestamp) -> Date {
    time::OffsetDateTime::from_unix_timestamp(t.0)
        .map(|t| t.date())
        .unwrap_or(Date::MIN)
}

fn weekday(word: &str) -> Option<Weekday> {
    let w = word.trim_end_matches([',', '.']);
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.into_iter()
        .find(|(name, _)| w.len() >= 3 && name.starts_with(w))
        .map(|(_, d)| d)
}

/// A time of day: `19:00`, `7pm`, `7:30pm`, `10am`, `noon`.
fn time_of_day(word: &str) -> Option<Time> {
    let w = word.trim_end_matches([',', '.']);
    if w == "noon" {
        return Time::from_hms(12, 0, 0).ok();
    }
    let (digits, offset) = if let Some(d) = w.strip_suffix("am") {
        (d, Some(0))
    } else if let Some(d) = w.strip_suffix("pm") {
        (d, Some(12))
    } else {
        (w, None)
    };
    let (h, m) = match digits.split_once([':', 'h', '.']) {
        Some((h, m)) => (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?),
        None if offset.is_some() => (digits.parse::<u8>().ok()?, 0),
        None => return None,
    };
    let h = match offset {
        Some(add) if (1..=12).contains(&h) => h % 12 + add,
        Some(_) => return None,
        None => h,
    };
    Time::from_hms(h, m, 0).ok()
}

fn iso_date(word: &str) -> Option<Date> {
    let mut parts = word.splitn(3, '-');
    let y = parts.next()?.parse::<i32>().ok()?;
    let m = parts.next()?.parse::<u8>().ok()?;
    let d = parts.next()?.parse::<u8>().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// Reads a session's `when` as written, against the day it was planned (`planned`): an ISO
/// date with or without a time (`2026-12-12`, `2026-12-12 19:00`, `2026-12-12T19:00`), or
/// `today`, `tomorrow` or a weekday (`Saturday 10am`, `sun 19:00`: the first such day on or
/// after the day it was planned). `None` when it names no day this can read ("some evening
/// next week").
pub fn parse_when(when: &str, planned: Date) -> Option<When> {
    let lower = when.trim().to_lowercase();
    // `2026-12-12T19:00` is a date and a time.
    let words: Vec<&str> = lower
        .split_whitespace()
        .flat_map(|w| match w.split_once('t') {
            Some((d, t)) if iso_date(d).is_some() => vec![d, t],
            _ => vec![w],
        })
        .collect();
    let mut date = None;
    let mut time = None;
    for &w in &words {
        if date.is_none() {
            if let Some(d) = iso_date(w) {
                date = Some(d);
                continue;
            }
            if w == "today" {
                date = Some(planned);
                continue;
            }
            if w == "tomorrow" {
                date = planned.next_day();
                continue;
            }
            if let Some(day) = weekday(w) {
                let mut d = planned;
                while d.weekday() != day {
                    d = d.next_day()?;
                }
                date = Some(d);
                continue;
            }
        }
        if time.is_none()
            && let Some(t) = time_of_day(w)
        {
            time = Some(t);
        }
    }
    Some(When { date: date?, time })
}

/// A design session's start, from its `when` and the day it was planned.
pub fn session_when(p: &PlanSession) -> Option<When> {
    parse_when(&p.when, day_of(p.created_at))
}

/// The check-in cadence: the next check-in's day and the number of days between check-ins,
/// from the latest check-in (by date). `None` before the first check-in.
pub fn checkin_cadence(view: &AllianceView) -> Option<(Date, u32)> {
    let latest = view
        .checkins
        .iter()
        .filter_map(|c| iso_date(&c.date).map(|d| (d, c)))
        .max_by_key(|(d, c)| (*d, c.created_at))?;
    let every = latest.1.next_in_days.max(1);
    let next = latest.0.checked_add(Duration::days(i64::from(every)))?;
    Some((next, every))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, time};

    // 2026-12-07 is a Monday.
    const PLANNED: Date = date!(2026 - 12 - 07);

    #[test]
    fn a_sessions_when_reads_as_a_day_and_perhaps_a_time() {
        let cases = [
            (
                "2026-12-12 19:00",
                Some((date!(2026 - 12 - 12), Some(time!(19:00)))),
            ),
            (
                "2026-12-12T19:30",
                Some((date!(2026 - 12 - 12), Some(time!(19:30)))),
            ),
            ("2026-12-12", Some((date!(2026 - 12 - 12), None))),
            (
                "Saturday 10am",
                Some((date!(2026 - 12 - 12), Some(time!(10:00)))),
            ),
            (
                "sun 7:30pm",
                Some((date!(2026 - 12 - 13), Some(time!(19:30)))),
            ),
            (
                "Monday 12pm",
                Some((date!(2026 - 12 - 07), Some(time!(12:00)))),
            ),
            (
                "tomorrow 7pm",
                Some((date!(2026 - 12 - 08), Some(time!(19:00)))),
            ),
            (
                "Tuesday at 8am",
                Some((date!(2026 - 12 - 08), Some(time!(08:00)))),
            ),
            (
                "today at noon",
                Some((date!(2026 - 12 - 07), Some(time!(12:00)))),
            ),
            ("some evening next week", None),
            ("2026-13-40 10:00", None),
        ];
        for (when, want) in cases {
            let got = parse_when(when, PLANNED).map(|w| (w.date, w.time));
            assert_eq!(got, want, "{when}");
        }
    }
}
