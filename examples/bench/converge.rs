//! Convergence (issue 5, measure 5): 2, 4 and 8 devices each make 500 edits offline (needs of
//! their own, expectations reworded and agreed to, words typed into the shared vision), then
//! sync pairwise through the first device until every replica is identical. Measured: the time
//! from the first sync to convergence, with every edit present on every device.

use std::time::Duration;

use alliance::core::sync::PeerSync;
use alliance::core::{DeviceKey, Entropy, ItemId, Replica, SeededEntropy, Timestamp, Writer};

use crate::measure::time_and_peak;
use crate::pair::exchange;
use crate::{Row, ms};

const EDITS_EACH: usize = 500;

/// `devices` member devices holding the same alliance (founded by the first, with an
/// expectation everyone will reword), each then editing offline.
fn offline(devices: usize) -> (Vec<Replica>, usize) {
    // Returns the replicas and how many changes the alliance has once they have all merged.
    let keys: Vec<DeviceKey> = (0..devices)
        .map(|i| DeviceKey::from_seed([40 + i as u8; 32]))
        .collect();
    let at = |i: usize, t: i64| Writer {
        key: &keys[i],
        actor_tag: [40 + i as u8; 8],
        now: Timestamp(1_800_000_000 + t),
    };
    let mut rng = SeededEntropy::new(devices as u64);
    let (mut founder, _, _) = Replica::create(&at(0, 0), &mut rng, "Team", "P0", "lead").unwrap();
    for (i, k) in keys.iter().enumerate().skip(1) {
        founder
            .add_member(
                &at(0, 1),
                &mut rng,
                &format!("P{i}"),
                "member",
                Some(k.device_id()),
            )
            .unwrap();
    }
    let shared: ItemId = founder
        .add_expectation(&at(0, 2), &mut rng, "we meet weekly", None, &[])
        .unwrap()
        .id
        .unwrap();
    founder
        .splice_vision(&at(0, 3), 0, 0, "Our vision. ")
        .unwrap();
    let base = founder.len();
    let mut made = 0;
    let mut replicas: Vec<Replica> = (0..devices).map(|_| founder.clone()).collect();
    for (i, r) in replicas.iter_mut().enumerate() {
        let mut rng = SeededEntropy::new(1000 + i as u64);
        for e in 0..EDITS_EACH {
            let w = at(i, 10 + e as i64);
            let mut roll = [0u8; 1];
            rng.fill(&mut roll);
            match roll[0] % 10 {
                0..=5 => {
                    let len = r.view().vision.chars().count();
                    r.splice_vision(&w, len, 0, "word ").unwrap();
                }
                6 | 7 => {
                    r.edit_expectation(&w, &shared, &format!("we meet weekly ({i}, {e})"))
                        .unwrap();
                }
                8 => {
                    r.agree(&w, &shared).unwrap();
                }
                _ => {
                    r.add_need(&w, &mut rng, &format!("need {i} {e}")).unwrap();
                }
            }
        }
        // Agreeing twice to the same text is no change.
        made += r.len() - base;
    }
    (replicas, base + made)
}

/// Syncs every device with the first, twice round: after the second round all are identical.
fn converge(replicas: &mut [Replica]) {
    let (first, rest) = replicas.split_first_mut().expect("devices");
    for _ in 0..2 {
        for r in rest.iter_mut() {
            exchange(first, &mut PeerSync::new(), r, &mut PeerSync::new());
        }
    }
}

pub fn section(device_counts: &[usize], runs: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut first: Option<Duration> = None;
    for &devices in device_counts {
        eprintln!("convergence of {devices} devices x {EDITS_EACH} offline edits...");
        let (replicas, expected) = offline(devices);
        let mut converged = Vec::new();
        let (d, peak) = time_and_peak(runs.min(3), || {
            let mut copy = replicas.clone();
            converge(&mut copy);
            converged = copy;
        });
        let heads = converged[0].heads();
        assert!(
            converged.iter().all(|r| r.heads() == heads),
            "all identical"
        );
        let total = converged[0].len();
        assert_eq!(total, expected, "every edit is present");
        let base_time = *first.get_or_insert(d);
        rows.push(Row {
            measure: "converge (star, in memory)",
            changes: devices,
            millis: ms(d),
            vs_view: d.as_secs_f64() / base_time.as_secs_f64(),
            peak_mib: Some(peak),
            bytes: None,
            note: format!(
                "{total} changes in the end; {:.1} ms per device",
                ms(d) / devices as f64
            ),
        });
    }
    rows
}
