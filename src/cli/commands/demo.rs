//! `alliance demo`: three devices of one family, each with its own home (real files) and its own
//! iroh endpoint on 127.0.0.1 (relays off): one founds the alliance and invites the others, who
//! join with tickets; all three edit while apart, then sync over QUIC and converge.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cli::context::{Context, block_on};
use crate::cli::output::write_stdout;
use crate::cli::render;
use crate::core::invite::Invite;
use crate::core::{DeviceKey, Edited, Entropy, LogEntry, NewCheckIn, Replica, Writer};
use crate::device::{DeviceError, Result};
use crate::net::endpoint::{NetConfig, addr_for};
use crate::net::node::{Node, add_invite, join, save_join};
use crate::net::ticket::InviteTicket;
use crate::store::shared::SharedAlliance;
use crate::store::{Home, Identity, LockMode};

/// Run a demo: three family devices on this machine design an alliance, edit apart, and sync over iroh.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the three devices' homes in DIR instead of deleting them.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

struct DemoDevice {
    name: &'static str,
    home: Home,
    identity: Identity,
}

#[derive(Serialize)]
struct Out {
    alliance: String,
    converged: bool,
    verified: bool,
    homes: Option<String>,
    view: crate::core::AllianceView,
    log: Vec<LogEntry>,
    /// The conflict two devices made by rescheduling at once, as every device saw it.
    conflict: Vec<crate::core::conflicts::Conflict>,
    /// Who wrote which part of the vision.
    blame: Vec<crate::core::history::BlameSpan>,
}

impl DemoDevice {
    fn new(root: &std::path::Path, name: &'static str, entropy: &mut dyn Entropy) -> Result<Self> {
        let home = Home::new(root.join(name.to_lowercase()));
        let mut seed = [0u8; 32];
        entropy.fill(&mut seed);
        home.init(name, seed)?;
        let identity = home.identity()?;
        Ok(DemoDevice {
            name,
            home,
            identity,
        })
    }

    /// One edit, as a command would make it: lock, edit, fsync.
    fn edit(
        &self,
        ctx: &mut Context,
        f: impl FnOnce(
            &mut Replica,
            &Writer<'_>,
            &mut dyn Entropy,
        ) -> std::result::Result<Edited, crate::core::EditError>,
    ) -> Result<()> {
        let id = self.home.alliance_ids()?[0];
        let mut open = self.home.open(&id, LockMode::Exclusive)?;
        let tag = open.actor_tag(ctx.entropy.as_mut())?;
        let w = Writer {
            key: &self.identity.key,
            actor_tag: tag,
            now: ctx.now,
        };
        let edited = f(open.replica_mut(), &w, ctx.entropy.as_mut())?;
        if let Some(c) = &edited.change {
            open.persist(std::slice::from_ref(c))?;
        }
        if !ctx.out.json {
            write_stdout(&format!("  {:<7} {}", self.name, edited.summary));
        }
        Ok(())
    }
}

/// `from` syncs with `to` over iroh (one-shot), as `alliance sync --peer` would.
async fn sync(ctx: &Context, from: &(DemoDevice, Node), to: &(DemoDevice, Node)) -> Result<()> {
    let shared = from.1.alliances()[0].clone();
    let outcomes = from.1.sync_once(&shared, Some(&[to.1.device()])).await?;
    for o in outcomes {
        let r = o.result?;
        if !ctx.out.json {
            write_stdout(&format!(
                "  {} <-> {}: sent {}, received {} (every change verified)",
                from.0.name, to.0.name, r.sent, r.received
            ));
        }
    }
    Ok(())
}

async fn node_for(d: &DemoDevice) -> Result<Node> {
    let alliances = match d.home.alliance_ids()?.first() {
        Some(id) => vec![SharedAlliance::new(d.home.open(id, LockMode::Shared)?)],
        None => vec![],
    };
    let entropy = crate::system::entropy(d.name).map_err(DeviceError::user)?;
    Ok(Node::start(
        DeviceKey::from_seed(d.identity.key.to_seed()),
        &NetConfig::loopback(),
        alliances,
        entropy,
        crate::system::now,
    )
    .await?)
}

pub fn run(ctx: &mut Context, args: DemoArgs) -> Result<()> {
    let temp;
    let root = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| DeviceError::user(format!("cannot create {}: {e}", dir.display())))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(|e| {
                DeviceError::user(format!("cannot create a temporary directory: {e}"))
            })?;
            temp.path().to_path_buf()
        }
    };
    block_on(demo(ctx, &root, args.keep.as_ref()))?
}

async fn demo(ctx: &mut Context, root: &std::path::Path, keep: Option<&PathBuf>) -> Result<()> {
    let json = ctx.out.json;
    let say = |s: &str| {
        if !json {
            write_stdout(&format!("{s}\n"));
        }
    };
    say(
        "Three devices of one family, each with its own home and its own iroh endpoint on 127.0.0.1.\n",
    );
    let ada = DemoDevice::new(root, "Ada", ctx.entropy.as_mut())?;
    let tunde = DemoDevice::new(root, "Tunde", ctx.entropy.as_mut())?;
    let zoe = DemoDevice::new(root, "Zoe", ctx.entropy.as_mut())?;

    say("Ada founds the alliance and starts serving it:");
    {
        let mut tag = [0u8; 8];
        ctx.entropy.fill(&mut tag);
        let w = Writer {
            key: &ada.identity.key,
            actor_tag: tag,
            now: ctx.now,
        };
        let (replica, _, genesis) = Replica::create(
            &w,
            ctx.entropy.as_mut(),
            "The Okafor family",
            "Ada",
            "parent",
        )?;
        ada.home
            .create_alliance(&replica.id(), std::slice::from_ref(&genesis), Some(tag))?;
    }
    ada.edit(ctx, |r, w, _| r.set_vision(w, "We listen first."))?;
    let ada_node = node_for(&ada).await?;
    let ada = (ada, ada_node);
    say(&format!(
        "  Ada's device {} listens on {}",
        ada.1.device().short(),
        ada.1.addrs().join(", ")
    ));

    say("\nAda invites Tunde and Zoe; each joins with a one-line ticket:");
    let mut joined = Vec::new();
    for (d, role) in [(tunde, "parent"), (zoe, "teen")] {
        let mut secret = [0u8; 32];
        ctx.entropy.fill(&mut secret);
        let id = ada.0.home.alliance_ids()?[0];
        {
            let open = ada.0.home.open(&id, LockMode::Exclusive)?;
            add_invite(&open, Invite::new(&secret, role, ctx.now, 3600))?;
        }
        let ticket = InviteTicket {
            alliance: id.0.0,
            inviter: addr_for(&ada.1.device(), &ada.1.addrs(), None),
            secret,
        };
        let temp_node = node_for(&d).await?;
        let (target, report, addrs) =
            join(&temp_node.endpoint, &ticket, d.name, temp_node.addrs()).await?;
        temp_node.shutdown().await;
        save_join(&d.home, &target, &ada.1.device(), &addrs, ctx.now)?;
        say(&format!(
            "  {} joined with {}...: received {} verified changes",
            d.name,
            &ticket.to_string()[..24],
            report.received
        ));
        let node = node_for(&d).await?;
        joined.push((d, node));
    }
    let zoe = joined.pop().expect("two joined");
    let tunde = joined.pop().expect("two joined");

    say("\nAll three edit while apart (offline):");
    ada.0.edit(ctx, |r, w, e| {
        r.add_need(w, e, "an hour-long walk every morning")
    })?;
    ada.0.edit(ctx, |r, w, e| {
        r.add_plan(w, e, "Sunday 7pm", "kitchen table", "needs first", &[])
    })?;
    ada.0
        .edit(ctx, |r, w, _| r.set_vision(w, "We listen first, always."))?;
    tunde
        .0
        .edit(ctx, |r, w, e| r.add_need(w, e, "quiet time after work"))?;
    tunde
        .0
        .edit(ctx, |r, w, _| r.set_vision(w, "Together, we listen first."))?;
    tunde.0.edit(ctx, |r, w, e| {
        r.add_expectation(w, e, "no screens after 8pm on school nights", None, &[])
    })?;
    zoe.0
        .edit(ctx, |r, w, e| r.add_need(w, e, "friends over on Fridays"))?;
    zoe.0.edit(ctx, |r, w, _| {
        r.set_vision(w, "We listen first, and we laugh.")
    })?;
    let today = ctx.now.date();
    zoe.0.edit(ctx, |r, w, e| {
        r.add_checkin(
            w,
            e,
            NewCheckIn {
                date: today,
                rating: 4,
                reflection: "Better than last month.".into(),
                proposed_changes: vec!["pizza night on Fridays".into()],
                next_in_days: 14,
            },
        )
    })?;

    say("\nThey come back online and sync over iroh, pair by pair:");
    sync(ctx, &tunde, &ada).await?;
    sync(ctx, &zoe, &ada).await?;
    sync(ctx, &ada, &tunde).await?;
    sync(ctx, &ada, &zoe).await?;

    say("\nEveryone agrees to Tunde's expectation, then they sync again:");
    let expectation = {
        let id = ada.0.home.alliance_ids()?[0];
        let open = ada.0.home.open(&id, LockMode::Shared)?;
        open.replica().view().expectations[0].id.clone()
    };
    let session = {
        let id = ada.0.home.alliance_ids()?[0];
        let open = ada.0.home.open(&id, LockMode::Shared)?;
        open.replica().view().plan[0].id.clone()
    };
    for d in [&ada.0, &tunde.0, &zoe.0] {
        d.edit(ctx, |r, w, _| r.agree(w, &expectation))?;
    }
    say("...and Tunde and Zoe both reschedule the design session at the same time:");
    tunde.0.edit(ctx, |r, w, _| {
        r.edit_plan(w, &session, Some("Saturday 10am"), None, None)
    })?;
    zoe.0.edit(ctx, |r, w, _| {
        r.edit_plan(w, &session, Some("Sunday 5pm"), None, None)
    })?;
    sync(ctx, &tunde, &ada).await?;
    sync(ctx, &zoe, &ada).await?;
    sync(ctx, &ada, &tunde).await?;
    sync(ctx, &ada, &zoe).await?;

    let id = ada.0.home.alliance_ids()?[0];
    let seen: Vec<_> = [&ada.0, &tunde.0, &zoe.0]
        .iter()
        .map(|d| {
            d.home
                .open(&id, LockMode::Shared)
                .map(|o| o.replica().conflicts(None))
        })
        .collect::<std::result::Result<_, _>>()?;
    let conflict = seen[0].clone();
    let same = seen.iter().all(|c| *c == conflict);
    say(&format!(
        "\nThe collision, with who wrote which value (the same on all three devices: {}):\n{}",
        if same { "yes" } else { "NO" },
        render::conflicts_text(&conflict)
    ));
    let zoes = conflict
        .iter()
        .flat_map(|c| c.values.iter().position(|v| v.author == "Zoe"))
        .next()
        .map(|i| i + 1)
        .unwrap_or(1);
    say(&format!(
        "Ada settles it: alliance resolve {session} when --pick {zoes}, then they sync:"
    ));
    ada.0.edit(ctx, |r, w, _| {
        r.resolve(
            w,
            &crate::core::conflicts::Place::Item(session.clone()),
            "when",
            crate::core::conflicts::Resolution::Pick(zoes),
        )
    })?;
    sync(ctx, &ada, &tunde).await?;
    sync(ctx, &ada, &zoe).await?;

    let views: Vec<_> = [&ada.0, &tunde.0, &zoe.0]
        .iter()
        .map(|d| {
            d.home
                .open(&id, LockMode::Shared)
                .map(|o| o.replica().view())
        })
        .collect::<std::result::Result<_, _>>()?;
    let converged = views.windows(2).all(|w| w[0] == w[1]);
    let settled = [&ada.0, &tunde.0, &zoe.0].iter().all(|d| {
        d.home
            .open(&id, LockMode::Shared)
            .is_ok_and(|o| o.replica().conflicts(None).is_empty())
    });
    let open = ada.0.home.open(&id, LockMode::Shared)?;
    let verified = open
        .replica()
        .verify_history()
        .iter()
        .all(|c| c.problem.is_none());
    let blame = {
        let index = open.change_index();
        open.replica().blame_vision(&index)
    };
    let out = Out {
        blame,
        conflict,
        alliance: id.to_string(),
        converged,
        verified,
        homes: keep.map(|p| p.display().to_string()),
        view: views[0].clone(),
        log: open.replica().log(),
    };
    drop(open);
    for n in [ada.1, tunde.1, zoe.1] {
        n.shutdown().await;
    }
    ctx.out.emit(&out, || {
        let mut s = format!(
            "\nAll three devices hold the same alliance: {}\n\n{}\n",
            if converged { "yes" } else { "NO" },
            render::show(&out.view, out.log.len())
        );
        s.push_str("\nVerified history (newest first):\n");
        for e in &out.log {
            s.push_str(&format!(
                "  {}  {:<6} {}  {}\n",
                &e.hash[..8],
                e.author,
                if e.verified { "verified" } else { "FAILED" },
                e.summary
            ));
        }
        s.push_str("\nWho wrote which part of the vision (`alliance blame vision`):\n");
        s.push_str(&render::blame_text(&crate::core::history::Blame::by_line(
            out.blame.clone(),
        )));
        match &out.homes {
            Some(h) => s.push_str(&format!(
                "\nThe devices' homes are in {h}; try `alliance --home {h}/ada show`.\n"
            )),
            None => s.push_str("\nThe demo's files were removed (keep them with --keep DIR).\n"),
        }
        s
    });
    if converged && verified && same && settled && out.conflict.len() == 1 {
        Ok(())
    } else {
        Err(DeviceError::user(
            "the demo's devices did not converge; this is a bug",
        ))
    }
}
