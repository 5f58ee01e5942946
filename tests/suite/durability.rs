//! Nothing lost, nothing forged: concurrent writers, kill -9, damaged files, tampered
//! signatures, changes from non-members, and two devices exchanging signed bundles.

use std::process::Stdio;
use std::time::Duration;

use crate::kit::{Device, snapshot_tree};
use alliance::core::{DeviceKey, SignedChange, Timestamp, Writer};
use alliance::store::{Home, LockMode, format, layout};

#[test]
fn two_concurrent_writer_processes_lose_nothing() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let home = ada.home().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..10 {
                    // Each writer process its own seed, as real processes draw their own.
                    let out = crate::kit::alliance(&home, 100 * t + i)
                        .args(["need", "add", &format!("writer {t} need {i}")])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let texts = ada.needs();
    assert_eq!(texts.len(), 40);
    for t in 0..4 {
        for i in 0..10 {
            assert!(texts.contains(&format!("writer {t} need {i}")));
        }
    }
    // Every change verifies: in particular no (actor, seq) pair was used twice.
    assert_eq!(ada.json(&["verify"])["ok"], true);
    assert_eq!(ada.json(&["log"]).as_array().unwrap().len(), 41);
}

/// SIGKILLs a burst of `need add` commands, one after another, each at a random moment of its
/// life: some are killed mid-command, some return first. Every edit whose command returned must
/// survive the kills of the commands after it. The kill window follows this machine's speed
/// (widened after a kill, narrowed after a return), so both outcomes happen however loaded the
/// machine is, and the test asserts that both did: a burst in which no command returned (or
/// none was killed) would show nothing.
#[test]
fn killed_mid_burst_loses_no_returned_edit() {
    use std::os::unix::process::ExitStatusExt;
    const RUNS: u64 = 80;
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let mut returned = Vec::new();
    let mut killed = 0;
    let mut rng = alliance::core::SeededEntropy::new(0x2545_f491_4f6c_dd1d);
    // The window starts at twice one uninterrupted edit here.
    let start = std::time::Instant::now();
    ada.ok(&["need", "add", "calibration"]);
    let mut window = start.elapsed().as_secs_f64() * 2.0;
    for i in 0..RUNS {
        let text = format!("burst {i}");
        let mut child = crate::kit::alliance(ada.home(), 1000 + i)
            .args(["need", "add", &text])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a random moment, from before the process starts work to after it returns.
        let micros = (window * 1e6) as u64;
        std::thread::sleep(Duration::from_micros(rng.below(micros.max(1))));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            returned.push(text);
            window *= 0.9;
        } else {
            assert_eq!(
                status.signal(),
                Some(9),
                "`need add` failed on its own: {status}"
            );
            killed += 1;
            window *= 1.1;
        }
    }
    eprintln!(
        "{} of {RUNS} commands returned before the kill, {killed} were killed mid-command",
        returned.len()
    );
    assert!(
        returned.len() >= 8 && killed >= 8,
        "the burst must have both returned and killed commands: {} returned, {killed} killed",
        returned.len()
    );
    let texts = ada.needs();
    for t in &returned {
        assert!(texts.contains(t), "edit '{t}' returned success but is gone");
    }
    assert_eq!(ada.json(&["verify"])["ok"], true);
    // The store still takes writes.
    ada.ok(&["need", "add", "after the storm"]);
    assert!(ada.needs().contains(&"after the storm".to_string()));
}

/// Rewrites record `index` of a change log (`signature | change`; the record must be
/// signed) with `f`, fixing its checksum.
fn rewrite_record(log: &[u8], index: usize, f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let decoded = format::decode_log(log).unwrap();
    let mut out = format::log_header();
    for (i, r) in decoded.records.iter().enumerate() {
        let Some(sig) = r.signature else {
            assert_ne!(i, index, "record {index} has no signature to tamper with");
            out.extend(format::encode_record(None, &r.change));
            continue;
        };
        let mut payload = sig.to_vec();
        payload.extend_from_slice(&r.change);
        if i == index {
            f(&mut payload);
        }
        let sig = ed25519_dalek::Signature::from_bytes(payload[..64].try_into().unwrap());
        out.extend(format::encode_record(Some(&sig), &payload[64..]));
    }
    out
}

#[test]
fn signature_tampered_on_disk_is_caught_by_verify() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    ada.add(&["need", "add", "sunlight"]);
    let log_path = ada.alliance_dir().join(layout::CHANGES_LOG);
    let log = std::fs::read(&log_path).unwrap();
    let tampered = rewrite_record(&log, 1, |p| p[10] ^= 0x01);
    std::fs::write(&log_path, tampered).unwrap();
    let hash = ada.json(&["log"])[1]["hash"].as_str().unwrap().to_string();
    let out = ada.cmd().args(["verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&hash), "{stdout}");
    assert!(stdout.contains("signature does not verify"), "{stdout}");
    let log = ada.json(&["log"]);
    assert_eq!(log[1]["verified"], false);
    assert_eq!(
        log[1]["author"], "unknown",
        "a failed change is never attributed"
    );
    assert_eq!(log[0]["verified"], true);
}

#[test]
fn a_cached_verdict_does_not_hide_a_signature_tampered_later() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    ada.add(&["need", "add", "sunlight"]);
    // A first look verifies every change and keeps the verdicts.
    let before = ada.json(&["log"]);
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["verified"] == true)
    );
    let cache = ada.alliance_dir().join(layout::VERDICTS_CACHE);
    assert!(cache.exists(), "the verdicts are kept");
    // Then someone changes one stored signature.
    let log_path = ada.alliance_dir().join(layout::CHANGES_LOG);
    let log = std::fs::read(&log_path).unwrap();
    std::fs::write(&log_path, rewrite_record(&log, 1, |p| p[10] ^= 0x01)).unwrap();
    let after = ada.json(&["log"]);
    assert_eq!(after[1]["hash"], before[1]["hash"]);
    assert_eq!(
        after[1]["verified"], false,
        "no verdict for the new signature"
    );
    assert_eq!(after[1]["author"], "unknown");
    assert_eq!(after[0]["verified"], true);
    // A verdict file copied from elsewhere (or written by hand) vouches for nothing either:
    // its tags are under another device's key.
    let other = Device::founder(2, "Ben", "Family", "parent");
    other.add(&["need", "add", "sleep"]);
    other.json(&["log"]);
    std::fs::copy(other.alliance_dir().join(layout::VERDICTS_CACHE), &cache).unwrap();
    let again = ada.json(&["log"]);
    assert_eq!(again[1]["verified"], false);
}

#[test]
fn damaged_file_is_named_and_never_made_worse() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    ada.add(&["need", "add", "sunlight"]);
    let log_path = ada.alliance_dir().join(layout::CHANGES_LOG);
    let mut log = std::fs::read(&log_path).unwrap();
    log[20] ^= 0xff; // inside the first record; not the last, so not a torn tail
    std::fs::write(&log_path, &log).unwrap();
    let before = snapshot_tree(ada.home());
    for args in [
        &["show"][..],
        &["need", "add", "more"],
        &["verify"],
        &["log"],
    ] {
        let err = ada.fails(args, 4);
        assert!(err.contains(layout::CHANGES_LOG), "{err}");
        assert!(err.contains("damaged"), "{err}");
    }
    assert_eq!(snapshot_tree(ada.home()), before);
    // A damaged key file, too.
    let key_file = ada
        .home()
        .join(layout::IDENTITY_DIR)
        .join(layout::DEVICE_KEY);
    std::fs::write(key_file, "garbage").unwrap();
    let err = ada.fails(&["whoami"], 4);
    assert!(err.contains(layout::DEVICE_KEY), "{err}");
}

#[test]
fn torn_tail_from_a_crash_is_dropped_and_writing_goes_on() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    let log_path = ada.alliance_dir().join(layout::CHANGES_LOG);
    let good = std::fs::read(&log_path).unwrap();
    ada.add(&["need", "add", "half written"]);
    let full = std::fs::read(&log_path).unwrap();
    // Cut the last record at several points, as a crash mid-append would.
    for cut in [good.len() + 3, good.len() + 9, full.len() - 1] {
        std::fs::write(&log_path, &full[..cut]).unwrap();
        assert_eq!(ada.needs(), vec!["sleep".to_string()]);
    }
    ada.add(&["need", "add", "after the crash"]);
    assert_eq!(
        ada.needs(),
        vec!["sleep".to_string(), "after the crash".to_string()]
    );
    assert_eq!(ada.json(&["verify"])["ok"], true);
}

#[test]
fn two_devices_exchange_signed_bundles() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let ben_key = ben.device_key();
    ada.add(&[
        "member", "add", "Ben", "--role", "teen", "--device", &ben_key,
    ]);
    ada.ok(&["vision", "set", "We listen first."]);
    let bundle = ada.home().join("to-ben.bundle");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    let r = ben.json(&["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(r["created"], true);
    assert_eq!(r["new_changes"], 3);
    // Both edit the vision while apart, and Ben adds a need.
    ada.ok(&["vision", "set", "We listen first, always."]);
    ben.ok(&["vision", "set", "Together, we listen first."]);
    ben.add(&["need", "add", "time alone after school"]);
    let back = ben.home().join("to-ada.bundle");
    ben.ok(&["bundle", "export", back.to_str().unwrap()]);
    let r = ada.json(&["bundle", "import", back.to_str().unwrap()]);
    assert_eq!(r["new_changes"], 2);
    assert_eq!(r["already_had"], 3);
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ben.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    let (va, vb) = (ada.json(&["show"]), ben.json(&["show"]));
    assert_eq!(va, vb);
    assert_eq!(va["vision"], "Together, we listen first, always.");
    let log = ada.json(&["log"]);
    let bens: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["author"] == "Ben")
        .collect();
    assert_eq!(bens.len(), 2);
    assert_eq!(ada.json(&["verify"])["ok"], true);
    assert_eq!(ben.json(&["verify"])["ok"], true);
}

#[test]
fn change_by_a_key_that_is_not_a_member_is_rejected() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    // A stranger obtains the alliance (a leaked bundle) and signs an edit with their own key.
    let home = Home::new(ada.home());
    let id = home.alliance_ids().unwrap()[0];
    let (changes, forged) = {
        let open = home.open(&id, LockMode::Shared).unwrap();
        let changes = open.replica().changes_since(&[]);
        let stranger = DeviceKey::from_seed([66; 32]);
        let mut doc = open.replica().doc().clone();
        let w = Writer {
            key: &stranger,
            actor_tag: [1; 8],
            now: Timestamp(0),
        };
        doc.set_actor(w.actor());
        let mut tx = doc.transaction();
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "title", "Taken over").unwrap();
        let (h, _) = tx.commit();
        let c = automerge::ReadDoc::get_change_by_hash(&doc, &h.unwrap()).unwrap();
        let sig = stranger.sign_change(&c.hash());
        (changes, (sig, c.raw_bytes().to_vec()))
    };
    let mut all: Vec<(Option<ed25519_dalek::Signature>, Vec<u8>)> = changes
        .iter()
        .map(|c| (c.signature().copied(), c.raw_bytes().to_vec()))
        .collect();
    all.push((Some(forged.0), forged.1));
    let bundle = format::encode_bundle(&id.0, all.iter().map(|(s, b)| (s.as_ref(), b.as_slice())));
    let path = ada.home().join("forged.bundle");
    std::fs::write(&path, bundle).unwrap();
    let before = snapshot_tree(&ada.alliance_dir());
    let err = ada.fails(&["bundle", "import", path.to_str().unwrap()], 1);
    assert!(err.contains("not a member device"), "{err}");
    assert_eq!(snapshot_tree(&ada.alliance_dir()), before);
    assert_eq!(ada.json(&["show"])["title"], "Family");
    // And a device with no copy of the alliance refuses it just the same.
    let eve = Device::new(9);
    eve.fails(&["bundle", "import", path.to_str().unwrap()], 1);
    assert!(
        !eve.home().join(layout::ALLIANCES_DIR).exists()
            || eve.json(&["list"]).as_array().unwrap().is_empty()
    );
    // Sanity: the untampered bundle imports.
    let _ = SignedChange::from_parts(
        all[0].1.clone(),
        all[0].0.map(|s| s.to_bytes()).as_ref().map(|s| &s[..]),
    )
    .unwrap();
}

/// Rewrites an alliance's files in the version 1 formats (what alliance wrote before only the
/// signatures that vouch were kept): a snapshot (magic 1) of every change but the last, and a
/// log (magic 1, every record `signature | change`) holding the last.
fn write_old_format(dir: &std::path::Path) {
    let log_path = dir.join(layout::CHANGES_LOG);
    let records = format::decode_log(&std::fs::read(&log_path).unwrap())
        .unwrap()
        .records;
    assert!(std::fs::metadata(dir.join(layout::SNAPSHOT)).is_err());
    let (first, last) = records.split_at(records.len() - 1);
    let mut doc = automerge::Automerge::new();
    let mut sigs = std::collections::HashMap::new();
    for r in first {
        let c = automerge::Change::from_bytes(r.change.clone()).unwrap();
        sigs.insert(
            c.hash(),
            r.signature().expect("a device's own changes are signed"),
        );
        doc.apply_changes([c]).unwrap();
    }
    // Version 1 is version 2 without the proofs (their count, 8 bytes, before the CRC).
    let mut snapshot = format::encode_snapshot(&doc.save(), &sigs, &Default::default());
    snapshot.truncate(snapshot.len() - 4 - 8);
    snapshot[..8].copy_from_slice(alliance::constants::SNAPSHOT_MAGIC_V1);
    let crc = crc32fast::hash(&snapshot);
    snapshot.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.join(layout::SNAPSHOT), snapshot).unwrap();
    let mut log = alliance::constants::LOG_MAGIC_V1.to_vec();
    for r in last {
        let mut payload = r.signature.unwrap().to_vec();
        payload.extend_from_slice(&r.change);
        log.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        log.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        log.extend_from_slice(&payload);
    }
    std::fs::write(&log_path, log).unwrap();
}

#[test]
fn a_store_in_the_old_format_opens_and_is_upgraded_by_the_next_write() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["need", "add", "sleep"]);
    ada.add(&["need", "add", "sunlight"]);
    let shown = ada.json(&["show"]);
    let changes = ada.json(&["log"]).as_array().unwrap().len();
    let dir = ada.alliance_dir();
    write_old_format(&dir);
    let magic = |file: &str| std::fs::read(dir.join(file)).unwrap()[..8].to_vec();
    assert_eq!(magic(layout::CHANGES_LOG), b"ALLLOG01");
    // Read as it is: the same alliance, every change verified.
    assert_eq!(ada.json(&["show"]), shown);
    ada.ok(&["verify"]);
    assert!(
        ada.json(&["log"])
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["verified"] == true)
    );
    assert_eq!(
        magic(layout::CHANGES_LOG),
        b"ALLLOG01",
        "reading changes nothing"
    );
    // The next write rewrites both files in the current format first.
    ada.add(&["need", "add", "after the upgrade"]);
    assert_eq!(magic(layout::SNAPSHOT), b"ALLSNAP2");
    assert_eq!(magic(layout::CHANGES_LOG), b"ALLLOG02");
    let needs = ada.needs();
    for n in ["sleep", "sunlight", "after the upgrade"] {
        assert!(needs.contains(&n.to_string()), "{needs:?}");
    }
    ada.ok(&["verify"]);
    let log = ada.json(&["log"]);
    assert_eq!(log.as_array().unwrap().len(), changes + 1);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|e| e["verified"] == true)
    );
}
