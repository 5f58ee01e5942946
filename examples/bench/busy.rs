//! A device that is busy receiving (issue 27): the coach's device runs its page and keeps a
//! live session with a parent of one family (client alliance 0, about 1,000 changes) while it
//! joins another alliance of `n` changes (the family workload), received as a whole history
//! from the device that invited it. Measured on the coach's device, as a person meets it: how
//! long its page takes to answer a GET of the family's overview, and how long a parent's edit
//! takes to arrive over their live session, first with the device idle and then during the
//! join. Everything runs in this process, the way `alliance app` runs it: the coach's device
//! and its page on one runtime of two workers, the parent's device and the inviting device on
//! runtimes of their own; real iroh endpoints on 127.0.0.1, real stores in temp dirs.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use alliance::core::{SeededEntropy, Timestamp};
use alliance::device::Online;
use alliance::device::steps::{self, Invitee};
use alliance::net::endpoint::NetConfig;
use alliance::store::{Home, LockMode};

use crate::initial_sync::Server;
use crate::measure::percentile;
use crate::pair::runtime;
use crate::{Row, clients, ms, workload};

/// A GET of `path` on the page at `port`; the whole answer read. Returns the status.
fn get(port: u16, path: &str, cookie: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("reads");
    String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Trades the page's one-time link for a session cookie.
fn login(port: u16, link: &str) -> String {
    let path = link.trim_start_matches(&format!("http://127.0.0.1:{port}"));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("reads");
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// A home set up with `key`, holding `replica` for it.
fn home_with(
    dir: &std::path::Path,
    name: &str,
    p: &workload::Person,
    r: &alliance::core::Replica,
) -> Home {
    let home = Home::new(dir);
    home.init(name, p.key.to_seed()).expect("identity");
    home.create_alliance_from(r, Some(p.tag)).expect("store");
    home
}

/// What one phase measured: page answers and push arrivals.
#[derive(Default)]
struct Phase {
    gets: Vec<Duration>,
    pushes: Vec<Duration>,
}

pub fn section(sizes: &[usize], _runs: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("a busy device: the page and a live session while it joins {n} changes...");
        let big = workload::load_or_build(n);
        let family = clients::load(0, 1_000);
        let (coach, parent) = (clients::person(0, 0), clients::person(0, 1));
        let dirs: Vec<tempfile::TempDir> =
            (0..2).map(|_| tempfile::tempdir().expect("tmp")).collect();
        let coach_home = home_with(dirs[0].path(), "Coach", &coach, &family);
        let parent_home = home_with(dirs[1].path(), "Parent", &parent, &family);
        // The inviting device and the parent's device: runtimes of their own (other machines).
        let server_rt = runtime();
        let parent_rt = runtime();
        let coach_rt = runtime();
        let server = server_rt.block_on(Server::start(&big.replica, &big.people[0], 1));
        let ticket = {
            let identity = Home::new(server.home.path()).identity().expect("identity");
            let made = server.shared.with(LockMode::Exclusive, |o| {
                let (_, ticket) = steps::create_invite(
                    o,
                    &identity,
                    &mut SeededEntropy::new(7),
                    Timestamp(workload::T0),
                    &Invitee {
                        role: "coach",
                        label: "",
                        reader: false,
                    },
                    86_400 * 365 * 100,
                    &server.node.addrs(),
                )
                .map_err(|e| alliance::store::shared::SharedError::Internal(e.to_string()))?;
                Ok(ticket.to_string())
            });
            made.expect("an invite")
        };
        let coach_device = coach_rt
            .block_on(Online::start(
                coach_home.clone(),
                NetConfig::loopback(),
                None,
            ))
            .expect("the coach's device starts");
        let page = coach_rt
            .block_on(alliance::app::server::start(coach_device.clone(), None))
            .expect("the page starts");
        let coach_addrs = coach_device.info().expect("serving").addrs;
        {
            let open = parent_home
                .open(&family.id(), LockMode::Exclusive)
                .expect("open");
            open.update_peer_book(|b| {
                b.seen(
                    &coach.key.device_id().to_hex(),
                    &coach_addrs,
                    None,
                    Timestamp(workload::T0),
                )
            })
            .expect("peer book");
        }
        let parent_device = parent_rt
            .block_on(Online::start(
                parent_home.clone(),
                NetConfig::loopback(),
                None,
            ))
            .expect("the parent's device starts");
        let cookie = login(page.port, &page.link());
        let overview = format!("/a/{}/", family.id());
        assert_eq!(get(page.port, &overview, &cookie), 200, "the page answers");
        // Wait for the parent's live session with the coach.
        let parent_hex = parent.key.device_id().to_hex();
        let start = Instant::now();
        while !coach_rt.block_on(async {
            coach_device.poll_online().await;
            coach_device.online().contains(&parent_hex)
        }) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the parent connects"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let coach_family = coach_device.alliance(&family.id()).expect("served");
        let parent_family = parent_device.alliance(&family.id()).expect("served");
        let parent_identity = parent_home.identity().expect("identity");
        let mut rng = SeededEntropy::new(11);
        let mut k = 0;
        // One push: the parent adds a need; the time until the coach's replica holds it.
        let mut push = |rng: &mut SeededEntropy| -> Duration {
            k += 1;
            let t = Instant::now();
            let hash = parent_family
                .with(LockMode::Exclusive, |o| {
                    let e = steps::edit_on(
                        o,
                        &parent_identity,
                        rng,
                        Timestamp(workload::T0 + k),
                        |r, w, e| Ok(r.add_need(w, e, &format!("a quiet hour {k}"))?),
                    )
                    .map_err(|e| alliance::store::shared::SharedError::Internal(e.to_string()))?;
                    Ok(e.change.expect("a change").hash())
                })
                .expect("the parent's edit");
            loop {
                let arrived = coach_family
                    .with(LockMode::Shared, |o| Ok(o.replica().has(&hash)))
                    .expect("read");
                if arrived {
                    return t.elapsed();
                }
                assert!(t.elapsed() < Duration::from_secs(120), "the push arrives");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // One phase: GETs back to back, a push every 250 ms, until `done` says so.
        let mut phase = |done: &dyn Fn() -> bool, rng: &mut SeededEntropy| -> Phase {
            let mut p = Phase::default();
            let mut next_push = Instant::now();
            while !done() {
                let t = Instant::now();
                assert_eq!(get(page.port, &overview, &cookie), 200);
                p.gets.push(t.elapsed());
                if Instant::now() >= next_push {
                    p.pushes.push(push(rng));
                    next_push = Instant::now() + Duration::from_millis(250);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            p
        };
        let idle_until = Instant::now() + Duration::from_secs(8);
        let idle = phase(&|| Instant::now() >= idle_until, &mut rng);
        // The join, on the coach's runtime, as the page's join form runs it.
        let joined_home = coach_home.clone();
        let join_ticket = ticket.clone();
        let joining = coach_rt.spawn(async move {
            let t = Instant::now();
            let mut entropy = SeededEntropy::new(3);
            let joined = steps::join(
                &joined_home,
                &NetConfig::loopback(),
                &join_ticket,
                Some("Coach"),
                &mut entropy,
                Timestamp(workload::T0),
                None,
            )
            .await
            .expect("the join");
            (t.elapsed(), joined.received)
        });
        let busy = phase(&|| joining.is_finished(), &mut rng);
        let (join_time, received) = coach_rt.block_on(joining).expect("joined");
        assert!(received >= big.replica.len(), "the whole alliance arrived");
        let mut row = |measure: &'static str, d: Duration, base: Duration, note: String| {
            rows.push(Row {
                measure,
                changes: n,
                millis: ms(d),
                vs_view: d.as_secs_f64() / base.as_secs_f64(),
                peak_mib: None,
                bytes: None,
                note,
            })
        };
        let (mut ig, mut bg, mut ip, mut bp) = (idle.gets, busy.gets, idle.pushes, busy.pushes);
        let (ig50, ig99) = (percentile(&mut ig, 50), percentile(&mut ig, 99));
        let (bg50, bg99) = (percentile(&mut bg, 50), percentile(&mut bg, 99));
        let (ip50, ip99) = (percentile(&mut ip, 50), percentile(&mut ip, 99));
        let (bp50, bp99) = (percentile(&mut bp, 50), percentile(&mut bp, 99));
        let bmax = bp.iter().max().copied().unwrap_or_default();
        row(
            "page GET p50, idle",
            ig50,
            ig50,
            format!("{} GETs", ig.len()),
        );
        row("page GET p99, idle", ig99, ig50, String::new());
        row(
            "page GET p50, while joining",
            bg50,
            ig50,
            format!("{} GETs", bg.len()),
        );
        row(
            "page GET p99, while joining",
            bg99,
            ig50,
            "target: at most 100 ms".into(),
        );
        row(
            "live push p50, idle",
            ip50,
            ip50,
            format!("{} pushes", ip.len()),
        );
        row("live push p99, idle", ip99, ip50, String::new());
        row(
            "live push p50, while joining",
            bp50,
            ip50,
            format!("{} pushes", bp.len()),
        );
        row(
            "live push p99, while joining",
            bp99,
            ip50,
            format!("the slowest {:.0} ms; target: at most 250 ms", ms(bmax)),
        );
        row(
            "the join itself",
            join_time,
            join_time,
            format!("{received} changes received"),
        );
        page.stop();
        coach_rt.block_on(coach_device.stop());
        parent_rt.block_on(parent_device.stop());
        server_rt.block_on(async {
            let Server { node, .. } = server;
            node.shutdown().await;
        });
        drop(dirs);
    }
    rows
}
