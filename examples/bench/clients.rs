//! A coach's client alliances, for the keeper section: distinct alliances built the way devices
//! build them, one signed change at a time, deterministic from their number. Each is founded by
//! the coach's device (the same device in every alliance), which adds the keeper (so that it is
//! a real keeper of it) and three family members on their own devices (two parents and a teen,
//! their keys different in every alliance). Then, each change about a minute after the last, by
//! any of the four: the vision typed a word per change at its end (55%; once it is a page long
//! every other such change deletes its first word instead), expectations reworded (10%), agreed
//! to (8%) or added (5%, up to 40), needs added or reworded (each person keeps up to 8; 17%),
//! a check-in a week at most, otherwise an expectation reworded (5%). Built once and cached in
//! `target/bench-cache/` (keyed by a hash of this file).

use alliance::core::{
    DeviceId, DeviceKey, Entropy, ItemId, NewCheckIn, Replica, SeededEntropy, Timestamp, Writer,
};

use crate::workload::{CachedReplica, Person, T0};

/// The keeper's device key (the keeper home is set up with this seed).
pub const KEEPER_SEED: [u8; 32] = [0x4b; 32];

pub fn keeper_device() -> DeviceId {
    DeviceKey::from_seed(KEEPER_SEED).device_id()
}

/// Person `j` of client alliance `i`: 0 is the coach (the same device in every alliance), 1
/// and 2 the parents, 3 the teen.
pub fn person(i: usize, j: usize) -> Person {
    let mut seed = [0x5a; 32];
    if j > 0 {
        seed[0] = (i % 256) as u8;
        seed[1] = (i / 256) as u8;
        seed[2] = j as u8;
    }
    Person {
        key: DeviceKey::from_seed(seed),
        tag: [seed[0], seed[1], seed[2], 0x5a, 0x5a, 0x5a, 0x5a, j as u8],
    }
}

fn next(rng: &mut SeededEntropy) -> u64 {
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    u64::from_le_bytes(b)
}

fn at(p: &Person, t: i64) -> Writer<'_> {
    Writer {
        key: &p.key,
        actor_tag: p.tag,
        now: Timestamp(T0 + t),
    }
}

const WORDS: [&str; 12] = [
    "we", "listen", "first", "and", "show", "up", "for", "each", "other", "with", "care", "always",
];

/// Client alliance `i` of about `changes` changes.
pub fn build(i: usize, changes: usize) -> Replica {
    let mut rng = SeededEntropy::new(1_000 + i as u64);
    let people: Vec<Person> = (0..4).map(|j| person(i, j)).collect();
    let (mut r, _, _) = Replica::create(
        &at(&people[0], 0),
        &mut rng,
        &format!("Client family {i}"),
        "Coach",
        "coach",
    )
    .expect("founding");
    r.add_keeper(
        &at(&people[0], 1),
        &keeper_device(),
        "the coach's keeper",
        &[],
    )
    .expect("adding the keeper");
    for (j, name) in [(1usize, "Ada"), (2, "Ben"), (3, "Zoe")] {
        r.add_member(
            &at(&people[0], 1),
            &mut rng,
            name,
            if j == 3 { "teen" } else { "parent" },
            Some(people[j].key.device_id()),
        )
        .expect("adding a member");
    }
    let mut expectations: Vec<ItemId> = Vec::new();
    let mut needs: Vec<(usize, ItemId)> = Vec::new();
    let mut vision = String::new();
    let (mut t, mut last_checkin) = (10i64, i64::MIN / 2);
    let mut len = r.len();
    while len < changes {
        t += 60;
        let who = (next(&mut rng) % 4) as usize;
        let w = at(&people[who], t);
        let roll = next(&mut rng) % 100;
        let word = WORDS[(next(&mut rng) % WORDS.len() as u64) as usize];
        let pick = |rng: &mut SeededEntropy, list: &[ItemId]| {
            list[(next(rng) as usize) % list.len()].clone()
        };
        let made = if roll < 55 {
            if vision.chars().count() > 3000 && roll.is_multiple_of(2) {
                let cut = vision.find(' ').unwrap_or(0) + 1;
                vision.drain(..cut);
                r.splice_vision(&w, 0, cut, "")
            } else {
                let at = vision.chars().count();
                vision.push_str(word);
                vision.push(' ');
                r.splice_vision(&w, at, 0, &format!("{word} "))
            }
        } else if expectations.is_empty() || ((73..78).contains(&roll) && expectations.len() < 40) {
            let e = r.add_expectation(&w, &mut rng, &format!("we {word} ({t})"), None, &[]);
            if let Ok(ed) = &e {
                expectations.push(ed.id.clone().expect("a new expectation's id"));
            }
            e
        } else if roll < 65 {
            let e = pick(&mut rng, &expectations);
            r.edit_expectation(&w, &e, &format!("we {word} by {t}"))
        } else if roll < 78 {
            let e = pick(&mut rng, &expectations);
            r.agree(&w, &e)
        } else if roll < 95 {
            let mine: Vec<ItemId> = needs
                .iter()
                .filter(|(o, _)| *o == who)
                .map(|(_, n)| n.clone())
                .collect();
            if mine.len() >= 8 || (!mine.is_empty() && roll.is_multiple_of(2)) {
                let n = pick(&mut rng, &mine);
                r.edit_need(&w, &n, &format!("need {word} {t}"))
            } else {
                let n = r.add_need(&w, &mut rng, &format!("need {word} {t}"));
                if let Ok(ed) = &n {
                    needs.push((who, ed.id.clone().expect("a new need's id")));
                }
                n
            }
        } else if t - last_checkin >= 7 * 24 * 3600 {
            last_checkin = t;
            r.add_checkin(
                &w,
                &mut rng,
                NewCheckIn {
                    date: Timestamp(T0 + t).date(),
                    rating: (roll % 5 + 1) as i64,
                    reflection: format!("it went {word}"),
                    proposed_changes: vec![],
                    next_in_days: 7,
                },
            )
        } else {
            let e = pick(&mut rng, &expectations);
            r.edit_expectation(&w, &e, &format!("we {word} again by {t}"))
        };
        if made.expect("a client family's edit").change.is_some() {
            len += 1;
        }
    }
    r
}

fn cache_path(i: usize, changes: usize) -> std::path::PathBuf {
    use sha2::Digest;
    let key = sha2::Sha256::digest(include_str!("clients.rs"));
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-cache")
        .join(format!(
            "client-{i}-{changes}-{}.bin",
            hex::encode(&key[..6])
        ))
}

/// Builds (on every core) the client alliances `0..count` not cached yet.
pub fn ensure_cached(count: usize, changes: usize) {
    let missing: Vec<usize> = (0..count)
        .filter(|&i| !cache_path(i, changes).exists())
        .collect();
    if missing.is_empty() {
        return;
    }
    eprintln!(
        "  (building {} client alliances of {changes} changes; cached for later runs)",
        missing.len()
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&i) = missing.get(k) else { return };
                    save(i, changes, &build(i, changes));
                }
            });
        }
    });
}

fn save(i: usize, changes: usize, r: &Replica) {
    let path = cache_path(i, changes);
    let _ = std::fs::create_dir_all(path.parent().expect("a folder"));
    let _ = std::fs::write(
        &path,
        postcard::to_allocvec(&CachedReplica::of(r)).expect("serialises"),
    );
}

/// Client alliance `i`, from the cache (built if missing).
pub fn load(i: usize, changes: usize) -> Replica {
    let from_cache = std::fs::read(cache_path(i, changes))
        .ok()
        .and_then(|b| postcard::from_bytes::<CachedReplica>(&b).ok()?.replica());
    from_cache.unwrap_or_else(|| {
        let r = build(i, changes);
        save(i, changes, &r);
        r
    })
}
