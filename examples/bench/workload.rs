//! A realistic alliance of a given number of signed changes, built in memory: three people on
//! three devices, needs, a plan, expectations that get reworded and agreed to, check-ins with
//! reflections, and the vision typed a few keystrokes per change. Deterministic (seeded).

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

const WORDS: [&str; 12] = [
    "we", "listen", "first", "and", "show", "up", "for", "each", "other", "with", "care", "always",
];

/// Builds an alliance of about `changes` changes.
pub fn build(changes: usize) -> Workload {
    let mut rng = SeededEntropy::new(7);
    let people: Vec<Person> = (1..=3u8)
        .map(|i| Person {
            key: DeviceKey::from_seed([i; 32]),
            tag: [i; 8],
        })
        .collect();
    fn at(p: &Person, t: i64) -> Writer<'_> {
        Writer {
            key: &p.key,
            actor_tag: p.tag,
            now: Timestamp(T0 + t),
        }
    }
    let (mut r, _, _) = Replica::create(
        &at(&people[0], 0),
        &mut rng,
        "Bench family",
        "Ada",
        "parent",
    )
    .unwrap();
    for (i, name) in [(1usize, "Ben"), (2, "Cy")] {
        r.add_member(
            &at(&people[0], 1),
            &mut rng,
            name,
            "member",
            Some(people[i].key.device_id()),
        )
        .unwrap();
    }
    let mut expectations: Vec<ItemId> = Vec::new();
    let mut needs: Vec<(usize, ItemId)> = Vec::new();
    let mut checkins: Vec<ItemId> = Vec::new();
    let mut vision = String::new();
    let mut t = 10;
    let mut cached_index = Vec::new();
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
                // Typing the vision, a few keystrokes per change; keep it a page long.
                vision.push_str(word);
                vision.push(' ');
                if vision.chars().count() > 3000 {
                    let cut = vision.find(' ').unwrap_or(0) + 1;
                    vision.drain(..cut);
                }
                r.set_vision(&w, &vision).map(|ed| ed.change.is_some())
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
            match needs.iter().find(|(o, _)| *o == who) {
                Some((_, n)) if roll.is_multiple_of(2) => {
                    let n = n.clone();
                    r.edit_need(&w, &n, &format!("need {word} {t}"))
                        .map(|ed| ed.change.is_some())
                }
                _ => {
                    let n = r.add_need(&w, &mut rng, &format!("need {word} {t}"));
                    if let Ok(ed) = &n {
                        needs.push((who, ed.id.clone().unwrap()));
                    }
                    n.map(|ed| ed.change.is_some())
                }
            }
        } else if roll < 95 || checkins.is_empty() {
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
