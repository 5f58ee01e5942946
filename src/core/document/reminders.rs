//! Reminders: what is coming up for one person, worth a desktop notification from a running
//! `alliance app` or `alliance serve` (opt-in; the sending is at the edge,
//! `device::reminders`). A check-in that has come due, a design session tomorrow (or today) that
//! they come to, an expectation waiting for their agreement. Each has a key that stays the same
//! while it is the same reminder, so it is shown once. No I/O: today is an argument (the
//! person's local day, as the sessions' times are their local times).

use serde::Serialize;
use time::Date;

use crate::core::ItemId;
use crate::core::calendar::{checkin_cadence, session_when};
use crate::core::model::{AllianceView, ExpectationStatus};

/// One reminder, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// The same while it is the same reminder (shown once): `checkin:2026-12-08`,
    /// `session:p7k2m:2026-12-12`, `agree:e4x9q:<digest of the wording>`.
    pub key: String,
    pub title: String,
    pub body: String,
}

/// What is coming up for `me` on `today` in `view`. A reader agrees to nothing, and a person
/// who left is reminded of nothing.
pub fn due(view: &AllianceView, me: &ItemId, today: Date) -> Vec<Reminder> {
    let Some(person) = view.current(me) else {
        return Vec::new();
    };
    let title = &view.title;
    let mut out = Vec::new();
    if let Some((next, every)) = checkin_cadence(view)
        && next <= today
    {
        let late = (today - next).whole_days();
        out.push(Reminder {
            key: format!("checkin:{next}"),
            title: format!("A check-in is due in {title}"),
            body: if late == 0 {
                format!("Your check-in every {every} days comes due today: what is working, what to recalibrate?")
            } else {
                format!("Your check-in every {every} days came due {late} days ago: what is working, what to recalibrate?")
            },
        });
    }
    for p in &view.plan {
        let Some(when) = session_when(p) else {
            continue;
        };
        let comes = p.attendees.is_empty() || p.attendees.contains(me);
        let day = match (when.date - today).whole_days() {
            0 => "today",
            1 => "tomorrow",
            _ => continue,
        };
        if !comes {
            continue;
        }
        let at = when
            .time
            .map(|t| format!(" at {:02}:{:02}", t.hour(), t.minute()))
            .unwrap_or_default();
        out.push(Reminder {
            key: format!("session:{}:{}", p.id, when.date),
            title: format!("A design session {day} in {title}"),
            body: format!("{}{at} ({}): {}", capitalized(day), p.when, p.how),
        });
    }
    if !person.reader {
        for e in &view.expectations {
            if e.status == ExpectationStatus::Retired {
                continue;
            }
            let agreed = e.agreements.iter().any(|a| &a.member == me && a.current);
            if agreed {
                continue;
            }
            out.push(Reminder {
                key: format!("agree:{}:{}", e.id, e.text_digest),
                title: format!("An expectation is waiting for your agreement in {title}"),
                body: format!("“{}”", crate::core::edit::excerpt(&e.text)),
            });
        }
    }
    out
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::identity::DeviceKey;
    use crate::core::ids::{SeededEntropy, Timestamp};
    use crate::core::{NewCheckIn, Replica, Writer};
    use time::macros::date;

    // 2026-11-24 10:00 UTC, a Tuesday.
    const T0: i64 = 1_795_514_400;

    fn writer(key: &DeviceKey, t: i64) -> Writer<'_> {
        Writer {
            key,
            actor_tag: [1; 8],
            now: Timestamp(T0 + t),
        }
    }

    #[test]
    fn a_session_tomorrow_a_due_check_in_and_an_expectation_to_agree_to_each_remind_once() {
        let ada = DeviceKey::from_seed([1; 32]);
        let ben = DeviceKey::from_seed([2; 32]);
        let mut e = SeededEntropy::new(1);
        let (mut r, me, _) =
            Replica::create(&writer(&ada, 0), &mut e, "The Okafors", "Ada", "parent").unwrap();
        let ben_id = r
            .add_member(
                &writer(&ada, 1),
                &mut e,
                "Ben",
                "teen",
                Some(ben.device_id()),
            )
            .unwrap()
            .id
            .unwrap();
        // Nothing yet: no session, no check-in, no expectation.
        assert!(due(&r.view(), &me, date!(2026 - 11 - 24)).is_empty());
        let saturday = r
            .add_plan(
                &writer(&ada, 2),
                &mut e,
                "Saturday 10am",
                "date night",
                "",
                &[],
            )
            .unwrap()
            .id
            .unwrap();
        r.add_plan(&writer(&ada, 3), &mut e, "some evening", "a walk", "", &[])
            .unwrap();
        r.add_plan(
            &writer(&ada, 4),
            &mut e,
            "2026-11-28",
            "only Ben",
            "",
            std::slice::from_ref(&ben_id),
        )
        .unwrap();
        let x = r
            .add_expectation(&writer(&ada, 5), &mut e, "screens off at dinner", None, &[])
            .unwrap()
            .id
            .unwrap();
        r.add_checkin(
            &writer(&ada, 6),
            &mut e,
            NewCheckIn {
                date: "2026-11-24".into(),
                rating: 4,
                reflection: String::new(),
                proposed_changes: vec![],
                next_in_days: 7,
            },
        )
        .unwrap();
        // Friday: the session on Saturday is tomorrow; the expectation waits for Ada.
        let friday = due(&r.view(), &me, date!(2026 - 11 - 27));
        let keys: Vec<&str> = friday.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys.len(), 2, "{friday:?}");
        assert_eq!(keys[0], format!("session:{saturday}:2026-11-28"));
        assert!(
            friday[0]
                .body
                .starts_with("Tomorrow at 10:00 (Saturday 10am)"),
            "{friday:?}"
        );
        assert!(keys[1].starts_with(&format!("agree:{x}:")));
        // Ben's own session on Saturday reminds Ben, not Ada.
        let bens = due(&r.view(), &ben_id, date!(2026 - 11 - 27));
        assert_eq!(
            bens.iter()
                .filter(|x| x.key.starts_with("session:"))
                .count(),
            2
        );
        // Once Ada agrees, that reminder is gone; a week after the check-in, it is due.
        r.agree(&writer(&ada, 7), &x).unwrap();
        let tuesday = due(&r.view(), &me, date!(2026 - 12 - 01));
        assert_eq!(tuesday.len(), 1, "{tuesday:?}");
        assert_eq!(tuesday[0].key, "checkin:2026-12-01");
        assert!(tuesday[0].body.contains("comes due today"));
        // Two days late: the same reminder (shown once), said so.
        let thursday = due(&r.view(), &me, date!(2026 - 12 - 03));
        assert_eq!(thursday[0].key, "checkin:2026-12-01");
        assert!(thursday[0].body.contains("2 days ago"));
    }
}
