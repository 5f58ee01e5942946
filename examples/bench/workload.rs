//! A realistic alliance of a given number of signed changes, built in memory: three people on
//! three devices, each change about a minute after the last; the vision typed a word per
//! change (over half of all changes), kept about a page long; up to 60 expectations that get
//! reworded and agreed to; a handful of needs per person, reworded more often than added; a
//! check-in a week at most, with reflections. Deterministic (seeded). Or an editing trace
//! replayed into the vision: the synthetic keystroke trace of `keystrokes.rs`
//! (`--workload text`), or one read from a file (`--trace`).

use alliance::core::{
    DeviceKey, Entropy, ItemId, NewCheckIn, Replica, SeededEntropy, Timestamp, Writer,
};

pub const T0: i64 = 1_790_000_000;

pub struct Person {
    pub key: DeviceKey,
    pub tag: [u8; 8],
}

pub struct Workload {
    pub replica: Replica,
    pub people: Vec<Person>,
    /// The expectation edited most often (the "hot" item for history).
    pub hot: ItemId,
    /// An expectation touched a handful of times.
    pub typical: ItemId,
    /// The history index as saved 20 changes before the end (the local cache a device has
    /// when 20 changes arrived since its last command).
    pub cached_index: Vec<u8>,
}

fn next(rng: &mut SeededEntropy) -> u64 {
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    u64::from_le_bytes(b)
}

/// Needs each person keeps at a time (they reword them rather than pile up new ones).
const MAX_NEEDS_EACH: usize = 8;
/// A week of the family's time, in the workload's seconds (each change is a minute later).
const WEEK: i64 = 7 * 24 * 3600;

const WORDS: [&str; 12] = [
    "we", "listen", "first", "and", "show", "up", "for", "each", "other", "with", "care", "always",
];

/// What the cache keeps of a replica: its ID, its saved document and its signatures (the
/// workloads' and the keeper section's client alliances alike).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CachedReplica {
    id: String,
    document: Vec<u8>,
    signatures: Vec<([u8; 32], Vec<u8>)>,
}

impl CachedReplica {
    pub fn of(r: &Replica) -> CachedReplica {
        CachedReplica {
            id: r.id().to_string(),
            document: r.save(),
            signatures: r
                .signatures()
                .iter()
                .map(|(h, s)| (h.0, s.to_bytes().to_vec()))
                .collect(),
        }
    }

    /// The replica again; `None` when what was cached does not read back.
    pub fn replica(&self) -> Option<Replica> {
        let signatures = self
            .signatures
            .iter()
            .map(|(h, s)| {
                Some((
                    automerge::ChangeHash(*h),
                    ed25519_dalek::Signature::from_slice(s).ok()?,
                ))
            })
            .collect::<Option<_>>()?;
        Replica::from_store(
            self.id.parse().ok()?,
            Some(&self.document),
            signatures,
            Default::default(),
            vec![],
        )
        .ok()
    }
}

/// What the cache keeps of a workload (the people are derived from fixed seeds).
#[derive(serde::Serialize, serde::Deserialize)]
struct Cached {
    replica: CachedReplica,
    hot: String,
    typical: String,
    cached_index: Vec<u8>,
}

/// What the sections run on.
enum Source {
    /// `--workload text`: the synthetic keystroke trace, a size being the number of changes in
    /// the alliance (the founding and its members included).
    Text(Trace),
    /// `--trace FILE`: a size is the number of edits of the trace replayed.
    File(Trace),
}

/// The workload in use when it is not the family's (`--workload text`, `--trace FILE`).
static SOURCE: std::sync::OnceLock<Source> = std::sync::OnceLock::new();

/// An editing trace in the automerge-perf format: a list of `[position, deleted, inserted...]`
/// (the inserted text may be split over several strings), either the whole JSON document or
/// its `edits` field. A `finalText` field, when present, is checked after a full replay.
pub struct Trace {
    pub name: String,
    pub edits: Vec<(usize, usize, String)>,
    pub final_text: Option<String>,
}

impl Trace {
    pub fn read(path: &std::path::Path) -> Result<Trace, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let (list, final_text) = match &json {
            serde_json::Value::Array(list) => (list, None),
            serde_json::Value::Object(o) => (
                o.get("edits")
                    .and_then(|e| e.as_array())
                    .ok_or("expected a list of edits or an object with `edits`")?,
                o.get("finalText")
                    .and_then(|t| t.as_str())
                    .map(str::to_string),
            ),
            _ => return Err("expected a list of edits or an object with `edits`".into()),
        };
        let edits = list
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let e = e.as_array().ok_or(format!("edit {i} is not a list"))?;
                let num = |j: usize| {
                    e.get(j)
                        .and_then(|v| v.as_u64())
                        .map(|v| v as usize)
                        .ok_or(format!("edit {i}: expected [position, deleted, text...]"))
                };
                let inserted: String = e[2.min(e.len())..]
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect();
                Ok((num(0)?, num(1)?, inserted))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Trace {
            name: path.display().to_string(),
            edits,
            final_text,
        })
    }
}

/// Replays `trace` (`--trace FILE`) instead of building synthetic alliances.
pub fn use_trace(trace: Trace) {
    let _ = SOURCE.set(Source::File(trace));
}

/// Replays the synthetic keystroke trace (`--workload text`) instead of building the family's
/// alliances.
pub fn use_text() {
    let k = crate::keystrokes::generate(crate::keystrokes::EDITS, crate::keystrokes::SEED);
    let _ = SOURCE.set(Source::Text(Trace {
        name: format!(
            "synthetic keystrokes (seed {}, {} edits)",
            crate::keystrokes::SEED,
            k.edits.len()
        ),
        edits: k.edits,
        final_text: Some(k.final_text),
    }));
}

/// The number of edits in the trace file in use, if any.
pub fn trace_len() -> Option<usize> {
    match SOURCE.get() {
        Some(Source::File(t)) => Some(t.edits.len()),
        _ => None,
    }
}

/// The workload's name in the rows: `family`, `text` or `trace`.
pub fn name() -> &'static str {
    match SOURCE.get() {
        None => "family",
        Some(Source::Text(_)) => "text",
        Some(Source::File(_)) => "trace",
    }
}

/// An alliance whose vision is a prefix of `trace`, one signed change per edit (typed by Ada),
/// after a founding, two members and two expectations: `size` edits of it, or (`changes`) as
/// many as make `size` changes in all. Every replay is checked against the text the prefix
/// leaves (and a full one against the trace's final text).
fn replay(trace: &Trace, size: usize, changes: bool) -> Workload {
    let people = people();
    let mut rng = SeededEntropy::new(7);
    let mut r = founded("Trace family", &people, &mut rng);
    let mut ids = Vec::new();
    for text in ["we listen first", "we keep our promises"] {
        let e = r
            .add_expectation(&at(&people[1], 2), &mut rng, text, None, &[])
            .unwrap();
        ids.push(e.id.unwrap());
    }
    let n = if changes {
        size.saturating_sub(r.len())
    } else {
        size
    }
    .min(trace.edits.len());
    let mut cached_index = Vec::new();
    for (i, (pos, del, ins)) in trace.edits[..n].iter().enumerate() {
        if i + 20 == n {
            cached_index = alliance::core::index::ChangeIndex::build(&r).to_bytes();
        }
        r.splice_vision(&at(&people[0], 10 + i as i64), *pos, *del, ins)
            .unwrap_or_else(|e| panic!("{}: edit {i} does not apply: {e}", trace.name));
    }
    assert_eq!(
        r.view().vision,
        crate::keystrokes::apply(&trace.edits[..n]),
        "the replayed prefix leaves the text its edits make"
    );
    if n == trace.edits.len()
        && let Some(expected) = &trace.final_text
    {
        assert_eq!(
            &r.view().vision,
            expected,
            "the replayed trace ends in its final text"
        );
    }
    Workload {
        replica: r,
        people,
        hot: ids[0].clone(),
        typical: ids[1].clone(),
        cached_index,
    }
}

/// The workload of about `changes` changes (for `--trace FILE`, that many edits of the trace),
/// built once and then loaded from `target/bench-cache/` (building signs and applies every
/// change in turn, as devices do: about a minute for 100,000 changes). The cache file is named
/// after the workload (`workload-` for the family's, `text-`, `trace-`) and a hash of this
/// source file, of the keystroke generator's and of the trace replayed, so any change to the
/// builder, the generator or the trace builds afresh.
pub fn load_or_build(changes: usize) -> Workload {
    use sha2::Digest;
    let mut key = sha2::Sha256::new();
    key.update(include_str!("workload.rs"));
    let (prefix, trace, by_changes) = match SOURCE.get() {
        None => ("workload", None, false),
        Some(Source::Text(t)) => {
            key.update(include_str!("keystrokes.rs"));
            ("text", Some(t), true)
        }
        Some(Source::File(t)) => ("trace", Some(t), false),
    };
    if let Some(t) = trace {
        for (pos, deleted, inserted) in &t.edits {
            key.update(format!("{pos},{deleted},{inserted:?};"));
        }
    }
    let key = key.finalize();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-cache");
    let path = dir.join(format!("{prefix}-{changes}-{}.bin", hex::encode(&key[..6])));
    if let Some(w) = std::fs::read(&path).ok().and_then(|b| from_cache(&b)) {
        return w;
    }
    eprintln!(
        "  (building the {changes}-change {} workload; cached for later runs)",
        name()
    );
    let w = match trace {
        Some(t) => replay(t, changes, by_changes),
        None => build(changes),
    };
    let cached = Cached {
        replica: CachedReplica::of(&w.replica),
        hot: w.hot.as_str().to_string(),
        typical: w.typical.as_str().to_string(),
        cached_index: w.cached_index.clone(),
    };
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, postcard::to_allocvec(&cached).expect("serialises"));
    w
}

fn from_cache(bytes: &[u8]) -> Option<Workload> {
    let c: Cached = postcard::from_bytes(bytes).ok()?;
    Some(Workload {
        replica: c.replica.replica()?,
        people: people(),
        hot: c.hot.parse().ok()?,
        typical: c.typical.parse().ok()?,
        cached_index: c.cached_index,
    })
}

fn people() -> Vec<Person> {
    (1..=3u8)
        .map(|i| Person {
            key: DeviceKey::from_seed([i; 32]),
            tag: [i; 8],
        })
        .collect()
}

/// `p`'s device writing `t` seconds after the workload's start.
fn at(p: &Person, t: i64) -> Writer<'_> {
    Writer {
        key: &p.key,
        actor_tag: p.tag,
        now: Timestamp(T0 + t),
    }
}

/// An alliance founded by Ada's device, with Ben and Cy as members on theirs.
fn founded(title: &str, people: &[Person], rng: &mut SeededEntropy) -> Replica {
    let (mut r, _, _) = Replica::create(&at(&people[0], 0), rng, title, "Ada", "parent").unwrap();
    for (i, name) in [(1usize, "Ben"), (2, "Cy")] {
        r.add_member(
            &at(&people[0], 1),
            rng,
            name,
            "member",
            Some(people[i].key.device_id()),
        )
        .unwrap();
    }
    r
}

/// Builds an alliance of about `changes` changes.
pub fn build(changes: usize) -> Workload {
    let mut rng = SeededEntropy::new(7);
    let people = people();
    let mut r = founded("Bench family", &people, &mut rng);
    let mut expectations: Vec<ItemId> = Vec::new();
    let mut needs: Vec<(usize, ItemId)> = Vec::new();
    let mut checkins: Vec<ItemId> = Vec::new();
    let mut vision = String::new();
    let mut t = 10;
    let mut cached_index = Vec::new();
    let mut last_checkin = 0;
    // Counted here: `Replica::len` walks the whole history.
    let mut len = r.len();
    while len < changes {
        if cached_index.is_empty() && len + 20 >= changes {
            cached_index = alliance::core::index::ChangeIndex::build(&r).to_bytes();
        }
        t += 60;
        let who = (next(&mut rng) % 3) as usize;
        let w = at(&people[who], t);
        let roll = next(&mut rng) % 100;
        let word = WORDS[(next(&mut rng) % WORDS.len() as u64) as usize];
        let result = if roll < 55 || expectations.len() < 2 {
            if expectations.len() < 2 && roll >= 55 {
                let e =
                    r.add_expectation(&w, &mut rng, &format!("expectation {t}: {word}"), None, &[]);
                if let Ok(ed) = &e {
                    expectations.push(ed.id.clone().unwrap());
                }
                e.map(|ed| ed.change.is_some())
            } else {
                // Typing the vision, a word per change at its end; once it is a page long,
                // every other change deletes its first word instead.
                if vision.chars().count() > 3000 && roll.is_multiple_of(2) {
                    let cut = vision.find(' ').unwrap_or(0) + 1;
                    vision.drain(..cut);
                    r.splice_vision(&w, 0, cut, "")
                        .map(|ed| ed.change.is_some())
                } else {
                    let at = vision.chars().count();
                    vision.push_str(word);
                    vision.push(' ');
                    r.splice_vision(&w, at, 0, &format!("{word} "))
                        .map(|ed| ed.change.is_some())
                }
            }
        } else if roll < 65 {
            // The hot expectation gets reworded often; others now and then.
            let e = if roll < 60 {
                expectations[0].clone()
            } else {
                expectations[(next(&mut rng) as usize) % expectations.len()].clone()
            };
            r.edit_expectation(&w, &e, &format!("we {word} by {t}"))
                .map(|ed| ed.change.is_some())
        } else if roll < 75 {
            let e = expectations[(next(&mut rng) as usize) % expectations.len()].clone();
            r.agree(&w, &e).map(|ed| ed.change.is_some())
        } else if roll < 82 && expectations.len() < 60 {
            let e = r.add_expectation(&w, &mut rng, &format!("expectation {t}: {word}"), None, &[]);
            if let Ok(ed) = &e {
                expectations.push(ed.id.clone().unwrap());
            }
            e.map(|ed| ed.change.is_some())
        } else if roll < 90 {
            // Each person keeps a handful of needs and rewords them; a new one now and then.
            let mine: Vec<ItemId> = needs
                .iter()
                .filter(|(o, _)| *o == who)
                .map(|(_, n)| n.clone())
                .collect();
            if mine.len() >= MAX_NEEDS_EACH || (!mine.is_empty() && roll.is_multiple_of(2)) {
                let n = &mine[(next(&mut rng) as usize) % mine.len()];
                r.edit_need(&w, n, &format!("need {word} {t}"))
                    .map(|ed| ed.change.is_some())
            } else {
                let n = r.add_need(&w, &mut rng, &format!("need {word} {t}"));
                if let Ok(ed) = &n {
                    needs.push((who, ed.id.clone().unwrap()));
                }
                n.map(|ed| ed.change.is_some())
            }
        } else if checkins.is_empty() || (roll < 95 && t - last_checkin >= WEEK) {
            // A check-in a week at most (a change is about a minute of the family's time).
            last_checkin = t;
            let c = r.add_checkin(
                &w,
                &mut rng,
                NewCheckIn {
                    date: Timestamp(T0 + t).date(),
                    rating: (roll % 5 + 1) as i64,
                    reflection: format!("it went {word}"),
                    proposed_changes: vec![],
                    next_in_days: 14,
                },
            );
            if let Ok(ed) = &c {
                checkins.push(ed.id.clone().unwrap());
            }
            c.map(|ed| ed.change.is_some())
        } else {
            let c = checkins.last().unwrap().clone();
            r.reflect(&w, &c, (roll % 5 + 1) as i64, &format!("felt {word}"), &[])
                .map(|ed| ed.change.is_some())
        };
        if result.expect("workload edit") {
            len += 1;
        }
    }
    assert_eq!(r.len(), len, "every counted edit made one change");
    let typical = expectations[expectations.len() / 2].clone();
    Workload {
        replica: r,
        people,
        hot: expectations[0].clone(),
        typical,
        cached_index,
    }
}
