use clap::{Args, ValueEnum};

use crate::cli::context::{Context, item_id};
use crate::cli::output::{Paint, one_line, paint, table};
use crate::cli::points;
use crate::core::ItemKind;
use crate::core::index::Touch;
use crate::device::Result;

/// List every change, newest first: who, which device, when, what, and whether it verified.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Show at most this many changes.
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Only changes by this person: their name as shown in `alliance show` (or in the history,
    /// for someone removed since), or their member ID.
    #[arg(long, value_name = "NAME|ID")]
    pub who: Option<String>,
    /// Only changes after a date (YYYY-MM-DD, UTC) or after a change (its hash or a prefix of it).
    #[arg(long, value_name = "DATE|HASH")]
    pub since: Option<String>,
    /// Only changes that touched this item (its ID, as `alliance show` lists it).
    #[arg(long, value_name = "ID")]
    pub item: Option<String>,
    /// Only changes that touched items of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<LogKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogKind {
    Member,
    Need,
    Plan,
    Vision,
    Expectation,
    Checkin,
}

impl LogKind {
    fn matches(self, touch: &Touch) -> bool {
        let kind = match self {
            LogKind::Member => ItemKind::Member,
            LogKind::Need => ItemKind::Need,
            LogKind::Plan => ItemKind::Plan,
            LogKind::Expectation => ItemKind::Expectation,
            LogKind::Checkin => ItemKind::CheckIn,
            LogKind::Vision => return *touch == Touch::Vision,
        };
        matches!(touch, Touch::Item(id) if id.kind() == kind)
    }
}

pub fn run(ctx: &mut Context, args: LogArgs) -> Result<()> {
    let open = ctx.review()?;
    let replica = open.replica();
    // The index lists the changes in causal order and what each touched; only the changes
    // that are shown get verified (newest first, until --limit is reached).
    let index = open.change_index();
    let mut candidates: Vec<&crate::core::index::IndexEntry> = match &args.since {
        Some(s) => index.after(&points::since(&index, s)?),
        None => index.entries().iter().collect(),
    };
    if let Some(item) = &args.item {
        let touch = Touch::Item(item_id(item)?);
        candidates.retain(|e| e.touched.contains(&touch));
    }
    if let Some(kind) = args.kind {
        candidates.retain(|e| e.touched.iter().any(|t| kind.matches(t)));
    }
    let roster = replica.roster();
    // The person asked for, by name or member ID, in the alliance now or removed (or gone)
    // since: the history keeps naming them. An unknown one is an error, not an empty list.
    // Several people of one name (a person removed and added again) are all shown.
    let who: Option<Vec<crate::core::ItemId>> = match &args.who {
        None => None,
        Some(who) => {
            let w = who.trim();
            let everyone = || roster.members.iter().chain(&roster.former);
            let found: Vec<_> = everyone()
                .filter(|m| m.id.as_str() == w || m.name.eq_ignore_ascii_case(w))
                .map(|m| m.id.clone())
                .collect();
            if found.is_empty() {
                let names: Vec<String> = roster
                    .members
                    .iter()
                    .map(|m| m.name.clone())
                    .chain(
                        roster
                            .former
                            .iter()
                            .map(|m| format!("{} (removed)", m.name)),
                    )
                    .collect();
                return Err(crate::device::DeviceError::user(format!(
                    "--who '{w}': nobody in this alliance's history has that name or ID; the people are {}",
                    names.join(", ")
                )));
            }
            Some(found)
        }
    };
    // The changes that will be shown, checked together (signatures in batches).
    let mut shown: Vec<automerge::ChangeHash> = candidates
        .iter()
        .rev()
        .take(match who {
            None => args.limit.unwrap_or(usize::MAX),
            Some(_) => usize::MAX,
        })
        .map(|e| e.hash)
        .collect();
    shown.reverse(); // causal order
    replica.prime_vouchers(&index);
    let mut attributor = crate::core::history::Attributor::new(replica, &roster);
    attributor.prepare(&shown);
    let mut entries = Vec::new();
    for e in candidates.iter().rev() {
        if args.limit.is_some_and(|n| entries.len() >= n) {
            break;
        }
        let Some(entry) = attributor.attribute(&e.hash).cloned() else {
            continue;
        };
        // Only verified changes carry a name, so a forged change never matches a person.
        if let Some(who) = &who
            && !(entry.verified && entry.member.as_ref().is_some_and(|m| who.contains(m)))
        {
            continue;
        }
        entries.push(entry);
    }
    ctx.out.emit(&entries, || {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    e.hash[..8].to_string(),
                    e.time.short(),
                    one_line(&e.author),
                    crate::core::history::short(&e.device),
                    if e.verified {
                        paint(Paint::Good, "ok")
                    } else {
                        paint(Paint::Bad, "FAILED")
                    },
                    match (&e.problem, &e.equivocation) {
                        (Some(p), _) => format!("{} [{p}]", one_line(e.what())),
                        (None, Some(q)) => format!("{} [EQUIVOCATION: {q}]", one_line(e.what())),
                        (None, None) => one_line(e.what()),
                    },
                ]
            })
            .collect();
        table(
            &["CHANGE", "TIME (UTC)", "WHO", "DEVICE", "VERIFIED", "WHAT"],
            &rows,
        )
    });
    open.save_verdicts();
    Ok(())
}
