//! What needs one person's attention: news since they last looked, expectations waiting for
//! their agreement (or whose text changed after they agreed), a check-in that is due, members
//! who have not shared needs yet, and conflicts to settle. No I/O: "now" and the heads this
//! device last marked as seen come in as arguments.

use std::collections::HashSet;

use automerge::ChangeHash;
use serde::Serialize;

use crate::core::document::conflicts::Conflict;
use crate::core::document::history::Attributor;
use crate::core::document::index::ChangeIndex;
use crate::core::document::model::ExpectationStatus;
use crate::core::ids::{ItemId, Timestamp};
use crate::core::replica::{LogEntry, Replica};
use crate::core::trust::identity::DeviceId;

/// At most this many of the changes by others are listed (newest first); all are counted.
pub const NEWS_SHOWN: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub me: ItemId,
    pub name: String,
    /// Whether this device has marked a point as seen (`alliance seen`); when not, every
    /// change by others counts as news.
    pub seen_marked: bool,
    /// How many changes others made since the seen point.
    pub news_count: usize,
    /// The newest of those changes (at most [`NEWS_SHOWN`]), newest first, each verified.
    pub news: Vec<LogEntry>,
    /// Live expectations this person has not agreed to in their current wording.
    pub to_agree: Vec<ToAgree>,
    pub checkin: CheckinDue,
    /// Members who have not shared any need yet.
    pub without_needs: Vec<MemberRef>,
    pub conflicts: Vec<Conflict>,
    /// Devices that signed two different changes with one number (see
    /// [`crate::core::trust::equivocation`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equivocations: Vec<EquivocationNote>,
    /// Peers this device refuses for now (filled in by the caller from the device-local
    /// address book).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined_peers: Vec<QuarantinedPeer>,
    /// Other members whose devices this one has not yet given all of this person's changes,
    /// as far as this device knows (filled in by the caller from the kept sync states; a
    /// change may have reached them through a third device meanwhile).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unshared: Vec<Unshared>,
    /// What each keeper holds of this person's changes, as far as this device knows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keepers: Vec<KeeperHolds>,
}

/// Changes of this person that have not reached another member, as far as this device knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unshared {
    pub member: String,
    /// How many of this person's changes that member's devices lack; `None` when this device
    /// never synced with any of them.
    pub changes: Option<usize>,
}

/// What a keeper holds of this person's changes, as far as this device knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeeperHolds {
    pub name: String,
    pub device: String,
    /// How many of this person's changes it lacks; `None` when this device never synced
    /// with it.
    pub missing: Option<usize>,
    /// When this device last synced with it (filled in by the caller from the address book).
    pub last_sync: Option<Timestamp>,
}

/// One equivocation, for people.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EquivocationNote {
    /// The name of the member whose device it is, when it is a member's.
    pub member: Option<String>,
    pub device: String,
    pub seq: u64,
    /// The change this device kept, and the one it left out (hashes).
    pub kept: String,
    pub left_out: String,
}

/// A peer whose data made Automerge panic, refused until `until`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarantinedPeer {
    pub device: String,
    pub until: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToAgree {
    pub expectation: ItemId,
    pub text: String,
    /// True when this person agreed to an earlier wording: the text changed after they agreed.
    pub stale: bool,
    /// True while the text is in a text conflict: it must be settled before anyone agrees.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_conflict: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberRef {
    pub id: ItemId,
    pub name: String,
}

/// Whether a check-in is due by the cadence the last one agreed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckinDue {
    /// The date of the latest check-in, if any.
    pub last: Option<String>,
    /// When the next one is due (`last` plus its `next_in_days`).
    pub next: Option<String>,
    /// Whether a check-in is due today or overdue (with no check-in yet: from
    /// [`FIRST_CHECKIN_DAYS`] after the oldest live expectation).
    pub due: bool,
    /// Days past the due date (0 when due today or not due).
    pub overdue_days: i64,
}

fn parse_day(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).ok()
}

/// Days from the oldest live expectation to the first check-in (the usual cadence, 2 weeks).
pub const FIRST_CHECKIN_DAYS: i64 = 14;

/// The check-in cadence as of `today`: the latest check-in by date, plus its `next_in_days`.
pub fn checkin_due(view: &crate::core::AllianceView, today: Timestamp) -> CheckinDue {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let today = time::OffsetDateTime::from_unix_timestamp(today.0)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    let latest = view
        .checkins
        .iter()
        .filter_map(|c| parse_day(&c.date).map(|d| (d, c)))
        .max_by_key(|(d, c)| (*d, c.created_at));
    let live = || {
        view.expectations
            .iter()
            .filter(|e| e.status != ExpectationStatus::Retired)
    };
    match latest {
        // No check-in yet: the first comes a usual cadence after there is something to check
        // (the oldest live expectation), not minutes after someone joined.
        None => {
            let first = live()
                .map(|e| e.created_at)
                .min()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.0).ok())
                .and_then(|t| {
                    t.date()
                        .checked_add(time::Duration::days(FIRST_CHECKIN_DAYS))
                });
            let overdue = first.map(|n| (today - n).whole_days());
            CheckinDue {
                last: None,
                next: first.and_then(|n| n.format(&fmt).ok()),
                due: overdue.is_some_and(|d| d >= 0),
                overdue_days: overdue.unwrap_or(0).max(0),
            }
        }
        Some((day, c)) => {
            let next = day.checked_add(time::Duration::days(i64::from(c.next_in_days)));
            let overdue = next.map(|n| (today - n).whole_days());
            CheckinDue {
                last: Some(c.date.clone()),
                next: next.and_then(|n| n.format(&fmt).ok()),
                due: overdue.is_some_and(|d| d >= 0),
                overdue_days: overdue.unwrap_or(0).max(0),
            }
        }
    }
}

impl Replica {
    /// Which other members lack some of `me`'s changes: `shared` holds, for each device this
    /// device kept a sync state with, the heads both were known to have. A member counts as
    /// reached by a change when any of their devices has it in the past of those heads.
    pub fn unshared(
        &self,
        index: &ChangeIndex,
        me: &ItemId,
        shared: &[(DeviceId, Vec<ChangeHash>)],
    ) -> Vec<Unshared> {
        let view = self.roster();
        let devices_of = |m: &crate::core::document::model::Member| -> Vec<DeviceId> {
            m.devices
                .iter()
                .filter_map(|d| DeviceId::from_bytes(&hex::decode(d).ok()?).ok())
                .collect()
        };
        let mine: Vec<DeviceId> = view.member(me).map(devices_of).unwrap_or_default();
        let is_mine = |e: &&crate::core::document::index::IndexEntry| {
            let actor = e.actor.to_bytes();
            mine.iter().any(|d| actor.starts_with(d.as_bytes()))
        };
        let mut out = Vec::new();
        for m in view.members.iter().filter(|m| &m.id != me) {
            let theirs = devices_of(m);
            let known: Vec<&Vec<ChangeHash>> = shared
                .iter()
                .filter(|(d, _)| theirs.contains(d))
                .map(|(_, h)| h)
                .collect();
            let changes = if known.is_empty() {
                None
            } else {
                // The fewest of my changes any of their devices lacks.
                known
                    .iter()
                    .map(|heads| {
                        index
                            .after(heads)
                            .into_iter()
                            .filter(|e| is_mine(e))
                            .count()
                    })
                    .min()
            };
            if changes != Some(0) {
                out.push(Unshared {
                    member: m.name.clone(),
                    changes,
                });
            }
        }
        out
    }

    /// What each keeper (not removed) holds of `me`'s changes: `shared` as for
    /// [`Replica::unshared`].
    pub fn keepers_hold(
        &self,
        index: &ChangeIndex,
        me: &ItemId,
        shared: &[(DeviceId, Vec<ChangeHash>)],
    ) -> Vec<KeeperHolds> {
        let view = self.roster();
        let mine: Vec<DeviceId> = view
            .member(me)
            .map(|m| {
                m.devices
                    .iter()
                    .filter_map(|d| d.parse::<DeviceId>().ok())
                    .collect()
            })
            .unwrap_or_default();
        view.devices
            .iter()
            .filter(|d| d.keeper && d.removed.is_none())
            .map(|d| {
                let heads = shared
                    .iter()
                    .find(|(k, _)| k.to_hex() == d.key)
                    .map(|(_, h)| h);
                KeeperHolds {
                    name: d.name.clone(),
                    device: d.key.clone(),
                    missing: heads.map(|heads| {
                        index
                            .after(heads)
                            .into_iter()
                            .filter(|e| {
                                let actor = e.actor.to_bytes();
                                mine.iter().any(|m| actor.starts_with(m.as_bytes()))
                            })
                            .count()
                    }),
                    last_sync: None,
                }
            })
            .collect()
    }

    /// What needs `me`'s attention as of `now`. `seen` is the heads this device last marked as
    /// seen (`None`: never). A change whose signature shows it was made on one of this
    /// person's own devices is not news; the others are counted, and the listed ones verified.
    pub fn status(
        &self,
        index: &ChangeIndex,
        me: &ItemId,
        seen: Option<&[ChangeHash]>,
        now: Timestamp,
    ) -> Status {
        let conflicts = self.conflicts(Some(index));
        self.status_with(index, me, seen, now, conflicts)
    }

    /// [`Replica::status`] with the alliance's conflicts already found (the store keeps a
    /// note of heads with no text conflict, so it need not look again; see
    /// `OpenAlliance::conflicts`).
    pub fn status_with(
        &self,
        index: &ChangeIndex,
        me: &ItemId,
        seen: Option<&[ChangeHash]>,
        now: Timestamp,
        conflicts: Vec<crate::core::document::conflicts::Conflict>,
    ) -> Status {
        self.prime_vouchers(index);
        let view = self.view();
        let my_devices: Vec<DeviceId> = view
            .member(me)
            .map(|m| {
                m.devices
                    .iter()
                    .filter_map(|d| DeviceId::from_bytes(&hex::decode(d).ok()?).ok())
                    .collect()
            })
            .unwrap_or_default();
        // Never marked seen: news is what came after the person joined (the change that added
        // them), not the history they joined into.
        let me_touch = crate::core::document::index::Touch::Item(me.clone());
        let joined: Vec<ChangeHash> = index
            .touching(&me_touch)
            .next()
            .map(|e| vec![e.hash])
            .unwrap_or_default();
        let after = index.after(seen.unwrap_or(&joined));
        // A change naming one of this person's devices is theirs only if its signature says so;
        // one that fails is news (and shows as unverified). Checked in batches.
        let claimed: Vec<(ChangeHash, DeviceId)> = after
            .iter()
            .filter_map(|e| {
                let actor = e.actor.to_bytes();
                my_devices
                    .iter()
                    .find(|d| actor.starts_with(d.as_bytes()))
                    .map(|d| (e.hash, *d))
            })
            .collect();
        // Checked together, once: a change that verifies keeps its verdict (see
        // `core::verdicts`), so the next status only looks the verdicts up.
        let mut attributor = Attributor::new(self, &view);
        attributor.prepare(&claimed.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        let mine: HashSet<ChangeHash> = claimed
            .iter()
            .map(|(h, _)| *h)
            .filter(|h| self.holds_verdict(h))
            .collect();
        let news: Vec<_> = after
            .into_iter()
            .filter(|e| !mine.contains(&e.hash))
            .collect();
        let listed: Vec<ChangeHash> = news
            .iter()
            .rev()
            .take(NEWS_SHOWN)
            .rev()
            .map(|e| e.hash)
            .collect();
        attributor.prepare(&listed);
        let shown: Vec<LogEntry> = news
            .iter()
            .rev()
            .take(NEWS_SHOWN)
            .filter_map(|e| attributor.attribute(&e.hash).cloned())
            .collect();
        // A reader agrees to nothing (they write nothing).
        let reader = view.current(me).is_some_and(|m| m.reader);
        let to_agree = view
            .expectations
            .iter()
            .filter(|e| !reader && e.status != ExpectationStatus::Retired)
            .filter_map(|e| {
                let mine = e.agreements.iter().find(|a| &a.member == me);
                match mine {
                    Some(a) if a.current => None,
                    _ => Some(ToAgree {
                        expectation: e.id.clone(),
                        text: e.text.clone(),
                        stale: mine.is_some(),
                        in_conflict: conflicts.iter().any(|c| {
                            c.is_text() && c.item.as_ref() == Some(&e.id) && c.field == "text"
                        }),
                    }),
                }
            })
            .collect();
        let without_needs = view
            .writers()
            .filter(|m| !view.needs.iter().any(|n| n.owner == m.id))
            .map(|m| MemberRef {
                id: m.id.clone(),
                name: m.name.clone(),
            })
            .collect();
        Status {
            me: me.clone(),
            name: view.name_of(me),
            seen_marked: seen.is_some(),
            news_count: news.len(),
            news: shown,
            to_agree,
            checkin: checkin_due(&view, now),
            without_needs,
            conflicts,
            equivocations: self
                .quarantine()
                .proofs
                .iter()
                .map(|p| EquivocationNote {
                    member: view.member_of_device(&p.device).map(|m| m.name.clone()),
                    device: p.device.clone(),
                    seq: p.seq,
                    kept: p.kept.hash.clone(),
                    left_out: p.other.hash.clone(),
                })
                .collect(),
            quarantined_peers: Vec::new(),
            unshared: Vec::new(),
            keepers: Vec::new(),
        }
    }
}
