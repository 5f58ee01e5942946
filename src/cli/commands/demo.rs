//! `alliance demo`: three devices of one family, each with its own home (real files), found an
//! alliance, edit it while apart, then exchange signed changes and converge.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::output::write_stdout;
use crate::cli::render;
use crate::core::{Edited, Entropy, LogEntry, NewCheckIn, Replica, Writer};
use crate::store::{Home, Identity, LockMode};

/// Run a demo: three family devices design an alliance, edit apart, and sync.
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

/// Sends everything `from` has that `to` lacks, verified on arrival, and persists it.
fn exchange(ctx: &Context, from: &DemoDevice, to: &DemoDevice) -> Result<usize> {
    let id = from.home.alliance_ids()?[0];
    let sent = {
        let open = from.home.open(&id, LockMode::Shared)?;
        let (changes, _) = open.replica().changes_since(&[]);
        changes
            .iter()
            .map(|c| {
                crate::core::SignedChange::from_bytes(
                    c.raw_bytes().to_vec(),
                    &c.signature().to_bytes(),
                )
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| CliError::user(e.to_string()))?
    };
    let new = if to.home.alliance_ids()?.contains(&id) {
        let mut open = to.home.open(&id, LockMode::Exclusive)?;
        let received = open.replica_mut().receive(sent)?;
        open.persist(&received.new)?;
        received.new.len()
    } else {
        let mut replica = Replica::empty(id);
        let received = replica.receive(sent)?;
        to.home.create_alliance(&id, &received.new, None)?;
        received.new.len()
    };
    if !ctx.out.json {
        write_stdout(&format!(
            "  {} -> {}: {new} new signed change(s), all verified",
            from.name, to.name
        ));
    }
    Ok(new)
}

pub fn run(ctx: &mut Context, args: DemoArgs) -> Result<()> {
    let temp;
    let root = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::user(format!("cannot create {}: {e}", dir.display())))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir()
                .map_err(|e| CliError::user(format!("cannot create a temporary directory: {e}")))?;
            temp.path().to_path_buf()
        }
    };
    let json = ctx.out.json;
    let say = |s: &str| {
        if !json {
            write_stdout(&format!("{s}\n"));
        }
    };
    say("Three devices of one family, each with its own home on this machine.\n");
    let ada = DemoDevice::new(&root, "Ada", ctx.entropy.as_mut())?;
    let tunde = DemoDevice::new(&root, "Tunde", ctx.entropy.as_mut())?;
    let zoe = DemoDevice::new(&root, "Zoe", ctx.entropy.as_mut())?;

    say("Ada founds the alliance and adds Tunde's and Zoe's devices:");
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
    let (tk, zk) = (tunde.identity.key.device_id(), zoe.identity.key.device_id());
    ada.edit(ctx, |r, w, e| {
        r.add_member(w, e, "Tunde", "parent", Some(tk))
    })?;
    ada.edit(ctx, |r, w, e| r.add_member(w, e, "Zoe", "teen", Some(zk)))?;
    ada.edit(ctx, |r, w, _| r.set_vision(w, "We listen first."))?;
    exchange(ctx, &ada, &tunde)?;
    exchange(ctx, &ada, &zoe)?;

    say("\nAll three edit while apart (offline):");
    ada.edit(ctx, |r, w, e| {
        r.add_need(w, e, "an hour-long walk every morning")
    })?;
    ada.edit(ctx, |r, w, _| r.set_vision(w, "We listen first, always."))?;
    tunde.edit(ctx, |r, w, e| r.add_need(w, e, "quiet time after work"))?;
    tunde.edit(ctx, |r, w, _| r.set_vision(w, "Together, we listen first."))?;
    tunde.edit(ctx, |r, w, e| {
        r.add_expectation(w, e, "no screens after 8pm on school nights", None, &[])
    })?;
    zoe.edit(ctx, |r, w, e| r.add_need(w, e, "friends over on Fridays"))?;
    zoe.edit(ctx, |r, w, _| {
        r.set_vision(w, "We listen first, and we laugh.")
    })?;
    zoe.edit(ctx, |r, w, e| {
        r.add_checkin(
            w,
            e,
            NewCheckIn {
                date: ctx_date(w),
                rating: 4,
                reflection: "Better than last month.".into(),
                proposed_changes: vec!["pizza night on Fridays".into()],
                next_in_days: 14,
            },
        )
    })?;

    say("\nThey meet again and sync, pair by pair:");
    exchange(ctx, &tunde, &ada)?;
    exchange(ctx, &zoe, &ada)?;
    exchange(ctx, &ada, &tunde)?;
    exchange(ctx, &ada, &zoe)?;

    say("\nEveryone agrees to Tunde's expectation:");
    let expectation = {
        let id = ada.home.alliance_ids()?[0];
        let open = ada.home.open(&id, LockMode::Shared)?;
        open.replica().view().expectations[0].id.clone()
    };
    for d in [&ada, &tunde, &zoe] {
        d.edit(ctx, |r, w, _| r.agree(w, &expectation))?;
    }
    exchange(ctx, &tunde, &ada)?;
    exchange(ctx, &zoe, &ada)?;
    exchange(ctx, &ada, &tunde)?;
    exchange(ctx, &ada, &zoe)?;

    let id = ada.home.alliance_ids()?[0];
    let views: Vec<_> = [&ada, &tunde, &zoe]
        .iter()
        .map(|d| {
            d.home
                .open(&id, LockMode::Shared)
                .map(|o| o.replica().view())
        })
        .collect::<std::result::Result<_, _>>()?;
    let converged = views.windows(2).all(|w| w[0] == w[1]);
    let open = ada.home.open(&id, LockMode::Shared)?;
    let verified = open
        .replica()
        .verify_history()
        .iter()
        .all(|c| c.problem.is_none());
    let out = Out {
        alliance: id.to_string(),
        converged,
        verified,
        homes: args.keep.as_ref().map(|p| p.display().to_string()),
        view: views[0].clone(),
        log: open.replica().log(),
    };
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
        match &out.homes {
            Some(h) => s.push_str(&format!(
                "\nThe devices' homes are in {h}; try `alliance --home {h}/ada show`.\n"
            )),
            None => s.push_str("\nThe demo's files were removed (keep them with --keep DIR).\n"),
        }
        s
    });
    if converged && verified {
        Ok(())
    } else {
        Err(CliError::user(
            "the demo's devices did not converge; this is a bug",
        ))
    }
}

fn ctx_date(w: &Writer<'_>) -> String {
    w.now.date()
}
