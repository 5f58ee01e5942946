use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::context::{Context, block_on, report};
use crate::cli::output::{table, write_stdout};
use crate::core::AllianceId;
use crate::device::keeper::{self, Keeper, keeper_home};
use crate::device::{DeviceError, Result};
use crate::store::LockMode;

/// An always-on keeper, so that devices that keep different hours still meet: run one
/// (`alliance keeper`, on a desktop that stays on, a NAS, a small server), or add, list and
/// remove the keepers of an alliance (an admin adds one with the ticket it prints).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_long_help = SERVICE_HELP)]
pub struct KeeperArgs {
    #[command(subcommand)]
    pub command: Option<KeeperCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

const SERVICE_HELP: &str = "A keeper runs from its own home, HOME/keeper, beside this device's. \
To run it as a service, `alliance keeper service` prints a systemd unit (docs/keeper.md). \
It stops on SIGTERM, and everything it acknowledged is already on disk.";

impl KeeperArgs {
    /// Whether the technical log lines are asked for.
    pub fn verbose(&self) -> bool {
        self.run.verbose || matches!(&self.command, Some(KeeperCommand::Run(a)) if a.verbose)
    }
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// What the keeper calls itself in its ticket, on its first run ("the Okafor NAS").
    #[arg(long, default_value = "keeper")]
    pub name: String,
    /// Seconds an alliance nobody uses stays in memory (its files hold everything).
    #[arg(long, default_value_t = keeper::IDLE.as_secs(), value_name = "SECONDS")]
    pub idle: u64,
    /// Also print the technical log lines (connections, sessions, addresses); ALLIANCE_LOG
    /// takes a finer filter.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeeperCommand {
    /// Run the keeper (what `alliance keeper` alone does).
    Run(RunArgs),
    /// Print the running keeper's ticket again (for an admin's `alliance keeper add`).
    Ticket,
    /// What the keeper holds: alliances, their devices, when each last synced, changes waiting.
    Status,
    /// Print a systemd unit that runs the keeper as a service.
    Service,
    /// Print the access section of an iroh-relay config that lets only the devices of the
    /// alliances this keeper holds use your own relay (docs/keeper.md).
    RelayAllowlist,
    /// Add a keeper to this alliance (an admin), with the ticket the keeper printed; it is
    /// handed the alliance at once.
    Add {
        /// The line `alliance keeper ticket` prints on the keeper.
        ticket: String,
        /// What the family calls it [default: what the keeper calls itself].
        #[arg(long)]
        name: Option<String>,
    },
    /// This alliance's keepers, and whether each has everything you wrote.
    List,
    /// Remove a keeper from this alliance (an admin). Final: it gets nothing new.
    Remove {
        /// Its name, or the start of its key (`alliance keeper list`).
        keeper: String,
    },
}

pub fn run(ctx: &mut Context, args: KeeperArgs) -> Result<()> {
    match args.command {
        None => run_keeper(ctx, args.run),
        Some(KeeperCommand::Run(a)) => run_keeper(ctx, a),
        Some(KeeperCommand::Ticket) => ticket(ctx),
        Some(KeeperCommand::Status) => status(ctx),
        Some(KeeperCommand::Service) => service(ctx),
        Some(KeeperCommand::RelayAllowlist) => relay_allowlist(ctx),
        Some(KeeperCommand::Add { ticket, name }) => add(ctx, &ticket, name.as_deref()),
        Some(KeeperCommand::List) => list(ctx),
        Some(KeeperCommand::Remove { keeper }) => remove(ctx, &keeper),
    }
}

#[derive(Serialize)]
struct Started {
    ticket: String,
    device: String,
    addrs: Vec<String>,
    alliances: usize,
}

fn run_keeper(ctx: &mut Context, args: RunArgs) -> Result<()> {
    let home = keeper_home(&ctx.home);
    let first = home.identity().is_err();
    if first {
        let (mut seed, mut secret) = ([0u8; 32], [0u8; 32]);
        ctx.entropy.fill(&mut seed);
        ctx.entropy.fill(&mut secret);
        keeper::set_up(&home, &args.name, seed, secret)?;
    }
    let config = ctx.serve_config_for(&home);
    let json = ctx.out.json;
    let idle = std::time::Duration::from_secs(args.idle.max(1));
    block_on(async move {
        let keeper = Keeper::start(home, config, idle).await?;
        // Listened for before the keeper says it runs: a SIGTERM right after saves and stops.
        let stop = crate::cli::commands::serve::stop_signal();
        let held = keeper.status().alliances.len();
        let started = Started {
            ticket: keeper.ticket().to_string(),
            device: keeper.device().to_hex(),
            addrs: keeper
                .ticket()
                .keeper
                .ip_addrs()
                .map(|a| a.to_string())
                .collect(),
            alliances: held,
        };
        let mut watching = tokio::task::JoinSet::new();
        if json {
            crate::cli::output::write_json(&crate::cli::output::to_json(&started, false));
        } else {
            write_stdout(&format!(
                "Keeper \"{}\" running on {}, holding {}.\n\nAn admin adds it to an alliance with:\n  alliance keeper add {}\n\n(`alliance keeper ticket` prints this ticket again.) Press Ctrl-C to stop.",
                crate::cli::output::one_line(&keeper.ticket().name),
                if started.addrs.is_empty() {
                    "no direct address".to_string()
                } else {
                    started.addrs.join(", ")
                },
                crate::cli::events::count(held, "alliance", "alliances"),
                started.ticket
            ));
            let listener = keeper.listener();
            let lookup: crate::cli::events::Lookup = Arc::new(move |id: &AllianceId| {
                listener.alliances().into_iter().find(|a| a.id == *id)
            });
            crate::cli::events::print_events(&mut watching, keeper.events(), lookup, true);
        }
        stop.await;
        watching.abort_all();
        keeper.stop().await;
        if !json {
            write_stdout("Stopped. Everything received was already saved.");
        }
        Ok::<(), DeviceError>(())
    })??;
    Ok(())
}

#[derive(Serialize)]
struct TicketOut {
    ticket: String,
}

fn ticket(ctx: &mut Context) -> Result<()> {
    let ticket = keeper::ticket(&keeper_home(&ctx.home))?.to_string();
    ctx.out.emit(
        &TicketOut {
            ticket: ticket.clone(),
        },
        || ticket,
    );
    Ok(())
}

#[derive(Serialize)]
struct StatusOut {
    running: bool,
    #[serde(flatten)]
    held: crate::store::KeeperStatus,
}

fn status(ctx: &mut Context) -> Result<()> {
    let home = keeper_home(&ctx.home);
    if home.identity().is_err() {
        return Err(DeviceError::user(
            "this device runs no keeper; start one with `alliance keeper`",
        ));
    }
    let out = StatusOut {
        running: home.running_serve().is_some(),
        held: home.keeper_status(),
    };
    let now = ctx.now;
    ctx.out.emit(&out, || {
        let mut s = format!(
            "The keeper is {}, holding {}.\n",
            if out.running { "running" } else { "stopped" },
            crate::cli::events::count(out.held.alliances.len(), "alliance", "alliances")
        );
        for a in out.held.alliances.values() {
            s.push_str(&format!(
                "\n\"{}\": {}{}\n",
                crate::cli::output::one_line(&a.title),
                crate::cli::events::count(a.changes, "change", "changes"),
                if a.loaded { ", in memory now" } else { "" }
            ));
            let rows: Vec<Vec<String>> = a
                .devices
                .values()
                .map(|d| {
                    vec![
                        crate::cli::output::one_line(&d.name),
                        match d.last_sync {
                            Some(t) => crate::core::Timestamp(t).ago(now),
                            None => "never".into(),
                        },
                        match d.waiting {
                            0 => "nothing".to_string(),
                            n => crate::cli::events::count(n, "change", "changes"),
                        },
                    ]
                })
                .collect();
            s.push_str(&table(&["WHO", "LAST SYNC", "WAITING FOR THEM"], &rows));
        }
        s
    });
    Ok(())
}

fn service(ctx: &mut Context) -> Result<()> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/alliance".into());
    #[derive(Serialize)]
    struct Unit {
        unit: String,
    }
    let unit = keeper::systemd_unit(&exe, ctx.home.root());
    ctx.out.emit(&Unit { unit: unit.clone() }, || unit);
    Ok(())
}

#[derive(Serialize)]
struct Allowed {
    device: String,
    name: String,
    alliance: String,
}

fn relay_allowlist(ctx: &mut Context) -> Result<()> {
    let home = keeper_home(&ctx.home);
    let me = home.identity().map_err(|_| {
        DeviceError::user("this device runs no keeper; start one with `alliance keeper`")
    })?;
    let mut allowed = vec![Allowed {
        device: me.key.device_id().to_hex(),
        name: me.name.clone(),
        alliance: String::new(),
    }];
    for a in home.keeper_status().alliances.values() {
        for (key, d) in &a.devices {
            if !allowed.iter().any(|x| &x.device == key) {
                allowed.push(Allowed {
                    device: key.clone(),
                    name: d.name.clone(),
                    alliance: a.title.clone(),
                });
            }
        }
    }
    ctx.out.emit(&allowed, || {
        let mut s = String::from(
            "# iroh-relay's config file: only the devices of the alliances this keeper holds\n# may use the relay (run this again after someone joins or is removed).\naccess.allowlist = [\n",
        );
        for a in &allowed {
            let who = if a.alliance.is_empty() {
                format!("the keeper \"{}\"", crate::cli::output::one_line(&a.name))
            } else {
                format!(
                    "{} ({})",
                    crate::cli::output::one_line(&a.name),
                    crate::cli::output::one_line(&a.alliance)
                )
            };
            s.push_str(&format!("  \"{}\", # {who}\n", a.device));
        }
        s.push(']');
        s
    });
    Ok(())
}

fn add(ctx: &mut Context, ticket: &str, name: Option<&str>) -> Result<()> {
    let identity = ctx.identity()?;
    let id = ctx.alliance_id()?;
    let (home, net, now) = (ctx.home.clone(), ctx.net.clone(), ctx.now);
    let mut entropy = crate::system::entropy("keeper add").map_err(DeviceError::user)?;
    let added = block_on(async move {
        keeper::add(
            &home,
            &identity,
            &id,
            ticket,
            name,
            &net,
            entropy.as_mut(),
            now,
        )
        .await
    })??;
    ctx.out.emit(&added, || {
        format!(
            "{} the keeper \"{}\"; it holds the alliance now ({} handed over). Members' devices sync with it from now on.",
            if added.added_now { "Added" } else { "Handed the alliance again to" },
            crate::cli::output::one_line(&added.name),
            crate::cli::events::count(added.sent, "change", "changes")
        )
    });
    Ok(())
}

fn list(ctx: &mut Context) -> Result<()> {
    let (open, identity) = (
        ctx.home.open(&ctx.alliance_id()?, LockMode::Shared)?,
        ctx.identity()?,
    );
    let keepers = keeper::keepers(&open, &identity)?;
    let now = ctx.now;
    ctx.out.emit(&keepers, || {
        if keepers.is_empty() {
            return "This alliance has no keeper. An admin adds one with `alliance keeper add TICKET` (docs/keeper.md).".into();
        }
        let rows: Vec<Vec<String>> = keepers
            .iter()
            .map(|k| {
                vec![
                    crate::cli::output::one_line(&k.name),
                    crate::cli::output::one_line(&k.added_by),
                    k.last_sync.map(|t| t.ago(now)).unwrap_or_else(|| "never".into()),
                    keeper::holds_in_words(k.missing),
                ]
            })
            .collect();
        table(&["KEEPER", "ADDED BY", "LAST SYNC", "YOUR CHANGES"], &rows)
    });
    Ok(())
}

fn remove(ctx: &mut Context, which: &str) -> Result<()> {
    let identity = ctx.identity()?;
    let mut open = ctx.home.open(&ctx.alliance_id()?, LockMode::Exclusive)?;
    let edited = keeper::remove(&mut open, &identity, ctx.entropy.as_mut(), ctx.now, which)?;
    drop(open);
    report(ctx, &edited);
    Ok(())
}
