//! A coach's keeper (issue 26): the real release binary `alliance keeper` as the keeper
//! process, holding 40 client alliances of 10,000 changes each (`clients.rs`), and member
//! devices as real iroh nodes on 127.0.0.1 in this process, each with a store of its own.
//!
//! 1. Start-up (spawn to its first `--json` line; the first start with no status file, then
//!    restarts), its resident memory after start, the peak of its resident memory while 5
//!    members of 5 different alliances sync with it at once (8 such waves cover the 40), and
//!    its resident memory once every alliance those waves loaded was dropped as idle
//!    (`--idle 1`). Target: idle under 150 MiB.
//! 2. A member's reconnect through the keeper against a direct member-to-member reconnect on
//!    the same alliance: Ada makes N new changes and hands them to the keeper; then Ben syncs
//!    once with Ada directly, Zoe once with the keeper while the alliance is loaded there,
//!    and, once the keeper dropped it as idle, the coach's device once with the keeper (cold:
//!    loaded from disk for the session). Each of the three was in sync before, with the sync
//!    state of its last session kept. Target: at most 1.5x the direct one.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alliance::core::{DeviceId, DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
use alliance::net::endpoint::NetConfig;
use alliance::net::node::Node;
use alliance::store::shared::SharedAlliance;
use alliance::store::{Home, LockMode};

use crate::clients::{self, keeper_device, person};
use crate::workload::Person;
use crate::{Row, ms};

/// Idle memory target for the 40 (MiB).
const IDLE_TARGET_MIB: f64 = 150.0;
/// How many members sync with the keeper at once.
const AT_ONCE: usize = 5;

/// A `Vm*` line of `/proc/<pid>/status`, in KiB (0 when unavailable).
fn kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The release binary, built if needed (as the CLI section does), or the one
/// `BENCH_ALLIANCE_BIN` names (built already: `cargo build --release --bin alliance --example
/// bench` builds both with the same features, where a second `cargo build` from here may
/// rebuild the dependencies with others).
fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("BENCH_ALLIANCE_BIN") {
        return Some(PathBuf::from(bin)).filter(|b| b.exists());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "alliance"])
        .status()
        .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().ok()?;
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("alliance"))
        .filter(|b| built && b.exists())
}

/// `alliance keeper` running as a child process.
struct KeeperProcess {
    child: Child,
    addrs: Vec<String>,
}

impl KeeperProcess {
    /// Spawns the keeper of `root/keeper` and waits for its first `--json` line. Returns it
    /// and the time from spawn to that line.
    fn start(bin: &Path, root: &Path, idle: u64) -> (KeeperProcess, Duration) {
        let log = std::fs::File::create(root.join("keeper.log")).expect("log file");
        let start = Instant::now();
        let mut child = Command::new(bin)
            .args(["--json", "keeper", "--idle", &idle.to_string()])
            .env("ALLIANCE_HOME", root)
            .env("ALLIANCE_BIND", "127.0.0.1:0")
            .env("ALLIANCE_RELAY", "disabled")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("alliance keeper starts");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("its stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("its first line");
        let elapsed = start.elapsed();
        assert!(
            !line.trim().is_empty(),
            "the keeper printed nothing; see {}",
            root.join("keeper.log").display()
        );
        // The rest of what it prints, read so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let started: serde_json::Value = serde_json::from_str(line.trim()).expect("a JSON line");
        let addrs: Vec<String> = started["addrs"]
            .as_array()
            .expect("its addresses")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        assert_eq!(
            started["device"].as_str(),
            Some(keeper_device().to_hex().as_str()),
            "the keeper runs with the key its alliances name"
        );
        (KeeperProcess { child, addrs }, elapsed)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss(&self) -> u64 {
        kib(self.pid(), "VmRSS")
    }

    /// SIGTERM (it saves and stops), and waits for it.
    fn stop(mut self) {
        // `alliance keeper` installs its SIGTERM handler just after printing its first line: a
        // SIGTERM sent at once would end it by the default action (not saving its status).
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill sends a signal to our own child process.
        unsafe {
            libc::kill(self.pid() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("the keeper stops");
        assert!(status.success(), "the keeper stopped with {status}");
    }
}

/// `r` with `n` new changes by `p` (needs and words of the vision), as `p`'s device makes them.
fn with_new_changes(r: &Replica, p: &Person, n: usize, salt: u64) -> Replica {
    let mut r = r.clone();
    let mut rng = SeededEntropy::new(salt);
    for k in 0..n {
        let w = Writer {
            key: &p.key,
            actor_tag: p.tag,
            now: Timestamp(crate::workload::T0 + 300_000_000 + k as i64),
        };
        if k % 2 == 0 {
            r.add_need(&w, &mut rng, &format!("new need {salt} {k}"))
        } else {
            r.splice_vision(&w, 0, 0, "new ")
        }
        .expect("a member's edit");
    }
    r
}

/// A member device: a home of its own holding the alliance as it holds it after syncing, and
/// a node serving it on 127.0.0.1.
struct Member {
    node: Node,
    shared: Arc<SharedAlliance>,
    person: Person,
    _dir: tempfile::TempDir,
}

impl Member {
    async fn start(r: &Replica, p: Person, seed: u64, knows: &[(DeviceId, Vec<String>)]) -> Member {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = Home::new(dir.path());
        home.init("member", p.key.to_seed()).expect("identity");
        let held = crate::cli::as_synced_by(r, &p.key.device_id());
        home.create_alliance_from(&held, Some(p.tag))
            .expect("store");
        let shared = SharedAlliance::new(home.open(&r.id(), LockMode::Shared).expect("open"));
        let mut member = Member {
            node: Node::start(
                DeviceKey::from_seed(p.key.to_seed()),
                &NetConfig::loopback(),
                vec![shared.clone()],
                Box::new(SeededEntropy::new(seed)),
                alliance::system::now,
            )
            .await
            .expect("endpoint on 127.0.0.1"),
            shared,
            person: p,
            _dir: dir,
        };
        member.learn(knows);
        member
    }

    /// Writes where other devices are into its address book.
    fn learn(&mut self, knows: &[(DeviceId, Vec<String>)]) {
        self.shared
            .with(LockMode::Exclusive, |o| {
                o.update_peer_book(|book| {
                    for (device, addrs) in knows {
                        book.learn(&device.to_hex(), addrs, None);
                    }
                })?;
                Ok(())
            })
            .expect("address book");
    }

    fn device(&self) -> DeviceId {
        self.node.device()
    }

    fn udp(&self) -> u64 {
        let m = &self.node.endpoint.metrics().socket;
        m.send_ipv4.get() + m.recv_data_ipv4.get()
    }

    /// One sync with `peer`: the changes it sent and received, and the UDP bytes.
    async fn sync(&self, peer: DeviceId) -> (usize, usize, u64) {
        self.try_sync(peer).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Member::sync`], saying why it failed.
    async fn try_sync(&self, peer: DeviceId) -> Result<(usize, usize, u64), String> {
        let before = self.udp();
        let outcomes = self
            .node
            .sync_once(&self.shared, Some(&[peer]))
            .await
            .expect("sync");
        let [outcome] = outcomes.as_slice() else {
            panic!("one sync with {}, got {outcomes:?}", peer.short());
        };
        let report = outcome.result.as_ref().map_err(|e| {
            format!(
                "{} could not sync with {}: {e}",
                self.device().short(),
                peer.short()
            )
        })?;
        Ok((report.sent, report.received, self.udp() - before))
    }

    /// `n` new changes on this device, through its store (as a command makes them).
    fn edit(&self, n: usize, salt: u64) {
        let identity = alliance::store::Identity {
            key: DeviceKey::from_seed(self.person.key.to_seed()),
            name: "member".into(),
        };
        let mut rng = SeededEntropy::new(salt);
        self.shared
            .with(LockMode::Exclusive, |o| {
                for k in 0..n {
                    alliance::device::steps::edit_on(
                        o,
                        &identity,
                        &mut rng,
                        alliance::system::now(),
                        |r, w, rng| {
                            Ok(if k % 2 == 0 {
                                r.add_need(w, rng, &format!("round {salt} need {k}"))?
                            } else {
                                r.splice_vision(w, 0, 0, "again ")?
                            })
                        },
                    )
                    .expect("a member's edit");
                }
                Ok(())
            })
            .expect("edits");
    }

    async fn stop(self) {
        self.node.shutdown().await;
    }
}

/// Waits until the keeper's status file says alliance `id` holds `changes` changes and is not
/// in memory (written when it is dropped as idle). Returns how long that took.
fn wait_dropped(home: &Home, id: &str, changes: usize) -> Duration {
    let start = Instant::now();
    loop {
        let status = home.keeper_status();
        if status
            .alliances
            .get(id)
            .is_some_and(|a| !a.loaded && a.changes == changes)
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the keeper did not drop alliance {id} with {changes} changes: {:?}",
            status.alliances.get(id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

pub fn section(sizes: &[usize], runs: usize, alliances: usize) -> Vec<Row> {
    let Some(bin) = binary() else {
        eprintln!("skipping the keeper section: could not build target/release/alliance");
        return Vec::new();
    };
    let runtime = crate::pair::runtime();
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("a keeper of {alliances} alliances of {n} changes each...");
        // One more alliance for the reconnect part, added after the first part.
        clients::ensure_cached(alliances + 1, n);
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path();
        let home = alliance::device::keeper::keeper_home(&Home::new(root));
        alliance::device::keeper::set_up(
            &home,
            "the coach's keeper",
            clients::KEEPER_SEED,
            [7; 32],
        )
        .expect("keeper home");
        let mut ids = Vec::new();
        let mut lens = Vec::new();
        for i in 0..alliances {
            let r = clients::load(i, n);
            home.create_alliance_from(&crate::cli::as_synced_by(&r, &keeper_device()), None)
                .expect("the keeper's store");
            ids.push(r.id().to_string());
            lens.push(r.len());
        }
        let changes = lens[0];
        let mut push = |measure: &'static str,
                        millis: f64,
                        vs: f64,
                        peak: Option<f64>,
                        bytes: Option<u64>,
                        note: String| {
            rows.push(Row {
                measure,
                changes,
                millis,
                vs_view: vs,
                peak_mib: peak,
                bytes: bytes.map(|b| b as usize),
                note,
            })
        };

        // 1. Start-up and memory.
        let (first, first_time) = KeeperProcess::start(&bin, root, 1);
        let first_rss = first.rss();
        first.stop();
        let mut times = Vec::new();
        let mut rss = Vec::new();
        let mut keeper = None;
        for k in 0..runs {
            let (kp, t) = KeeperProcess::start(&bin, root, 1);
            times.push(t);
            rss.push(kp.rss());
            if k + 1 == runs {
                keeper = Some(kp);
            } else {
                kp.stop();
            }
        }
        let keeper = keeper.expect("a keeper running");
        let start_time = median(times);
        let start_rss = median_u64(rss);
        let pid = keeper.pid();
        let knows = vec![(keeper_device(), keeper.addrs.clone())];
        let mut wave_times = Vec::new();
        let mut wave_peaks = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for wave in (0..alliances).collect::<Vec<_>>().chunks(AT_ONCE) {
            // Each member made 10 changes since; its device never synced with the keeper.
            let members: Vec<Member> = runtime.block_on(async {
                let mut m = Vec::new();
                for &i in wave {
                    let p = person(i, 1);
                    let r = with_new_changes(&clients::load(i, n), &p, 10, i as u64);
                    m.push(Member::start(&r, p, 500 + i as u64, &knows).await);
                }
                m
            });
            // The keeper's peak counter starts again from what it holds now.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
            let start = Instant::now();
            let outcomes = runtime.block_on(async {
                let syncs = members.iter().map(|m| m.try_sync(keeper_device()));
                futures_util::future::join_all(syncs).await
            });
            wave_times.push(start.elapsed());
            wave_peaks.push(kib(pid, "VmHWM"));
            for (m, outcome) in members.iter().zip(outcomes) {
                // A member that could not reach the keeper in time tries again (counted).
                let (sent, _, _) = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        eprintln!("  {e}; trying again");
                        failed.push(e);
                        runtime.block_on(m.sync(keeper_device()))
                    }
                };
                assert!(
                    sent >= 10,
                    "each member's 10 new changes went to the keeper"
                );
            }
            runtime.block_on(async {
                for m in members {
                    m.stop().await;
                }
            });
        }
        let last = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            wait_dropped(&home, id, lens[i] + 10);
        }
        let dropped_after = last.elapsed();
        let idle_rss = keeper.rss();
        keeper.stop();
        push(
            "keeper first start",
            ms(first_time),
            first_time.as_secs_f64() / start_time.as_secs_f64(),
            Some(mib(first_rss)),
            None,
            format!(
                "{alliances} alliances, no status file yet: each opened once; ratio to a restart; RSS after start"
            ),
        );
        push(
            "keeper start",
            ms(start_time),
            1.0,
            Some(mib(start_rss)),
            None,
            format!("spawn to first --json line, {alliances} alliances; RSS after start"),
        );
        let peak = wave_peaks.iter().copied().max().unwrap_or(0);
        push(
            "5 members sync with it at once",
            ms(median(wave_times.clone())),
            mib(peak) / IDLE_TARGET_MIB,
            Some(mib(peak)),
            None,
            format!(
                "{} waves of {AT_ONCE} (10 new changes each, first contact); peak RSS (VmHWM) max over waves, median {:.1} MiB; ratio to 150 MiB; {} of {alliances} syncs could not reach the keeper in time and tried again",
                wave_times.len(),
                mib(median_u64(wave_peaks.clone())),
                failed.len()
            ),
        );
        push(
            "idle after all were loaded",
            ms(dropped_after),
            mib(idle_rss) / IDLE_TARGET_MIB,
            Some(mib(idle_rss)),
            None,
            format!(
                "RSS once all {alliances} were dropped (--idle 1); time: last sync to all dropped; ratio to the 150 MiB target"
            ),
        );

        // 2. Reconnect: through the keeper against directly.
        let r = clients::load(alliances, n);
        home.create_alliance_from(&crate::cli::as_synced_by(&r, &keeper_device()), None)
            .expect("the keeper's store");
        let id = r.id().to_string();
        let (keeper, _) = KeeperProcess::start(&bin, root, 3);
        let knows = vec![(keeper_device(), keeper.addrs.clone())];
        let found = runtime.block_on(async {
            let ada = Member::start(&r, person(alliances, 1), 601, &knows).await;
            let mut knows_ada = knows.clone();
            knows_ada.push((ada.device(), ada.node.addrs()));
            let ben = Member::start(&r, person(alliances, 2), 602, &knows_ada).await;
            let zoe = Member::start(&r, person(alliances, 3), 603, &knows).await;
            let coach = Member::start(&r, person(alliances, 0), 604, &knows).await;
            // Everyone in sync once, keeping the sync state of that session.
            ada.sync(keeper_device()).await;
            ben.sync(ada.device()).await;
            zoe.sync(keeper_device()).await;
            coach.sync(keeper_device()).await;
            (ada, ben, zoe, coach)
        });
        let (ada, ben, zoe, coach) = found;
        let mut held = r.len();
        for (new, direct_name, loaded_name, cold_name) in [
            (
                10usize,
                "reconnect direct, 10 new",
                "via keeper (loaded), 10 new",
                "via keeper (cold), 10 new",
            ),
            (
                100,
                "reconnect direct, 100 new",
                "via keeper (loaded), 100 new",
                "via keeper (cold), 100 new",
            ),
        ] {
            eprintln!("  reconnect, {new} new changes...");
            let (mut direct, mut loaded, mut cold) = (Vec::new(), Vec::new(), Vec::new());
            let (mut bd, mut bl, mut bc) = (Vec::new(), Vec::new(), Vec::new());
            for run in 0..runs {
                ada.edit(new, (new * 1000 + run) as u64);
                held += new;
                runtime.block_on(async {
                    let (sent, _, _) = ada.sync(keeper_device()).await;
                    assert_eq!(sent, new, "the keeper took Ada's new changes");
                    let t = Instant::now();
                    let (_, got, bytes) = ben.sync(ada.device()).await;
                    direct.push(t.elapsed());
                    bd.push(bytes);
                    assert_eq!(got, new, "Ben got Ada's new changes from Ada");
                    let t = Instant::now();
                    let (_, got, bytes) = zoe.sync(keeper_device()).await;
                    loaded.push(t.elapsed());
                    bl.push(bytes);
                    assert_eq!(got, new, "Zoe got Ada's new changes from the keeper");
                });
                wait_dropped(&home, &id, held);
                runtime.block_on(async {
                    let t = Instant::now();
                    let (_, got, bytes) = coach.sync(keeper_device()).await;
                    cold.push(t.elapsed());
                    bc.push(bytes);
                    assert_eq!(got, new, "the coach got Ada's new changes from the keeper");
                });
            }
            let (direct, loaded, cold) = (median(direct), median(loaded), median(cold));
            let x = |d: Duration| d.as_secs_f64() / direct.as_secs_f64();
            push(
                direct_name,
                ms(direct),
                1.0,
                None,
                Some(median_u64(bd)),
                format!("Ben's one-shot sync with Ada's device (kept sync state); {held} changes"),
            );
            push(
                loaded_name,
                ms(loaded),
                x(loaded),
                None,
                Some(median_u64(bl)),
                "Zoe's one-shot sync with the keeper, the alliance in its memory".into(),
            );
            push(
                cold_name,
                ms(cold),
                x(cold),
                None,
                Some(median_u64(bc)),
                "the coach's one-shot sync with the keeper after it dropped the alliance (--idle 3)"
                    .into(),
            );
        }
        runtime.block_on(async {
            for m in [ada, ben, zoe, coach] {
                m.stop().await;
            }
        });
        keeper.stop();
    }
    rows
}
