//! The command-line interface: argument parsing (clap derive), one module per command, one
//! output layer and one error-to-exit-code mapping. The binary's `main` only calls [`run`].

pub mod commands;
pub mod context;
pub mod error;
pub mod events;
pub mod output;
pub mod points;
pub mod reference;
pub mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::*;
use context::Context;
use error::DeviceError;

/// `alliance -V`: the crate's version, and the versions of the document's schema
/// ([`crate::constants::SCHEMA_VERSION`]) and of the wire protocol (the number in
/// [`crate::constants::ALPN`]). The test `terminal::version_names_schema_and_protocol` checks the
/// numbers here against those constants.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (schema 1, protocol 4)");

/// `alliance --version`: the same, one version a line.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nschema 1 (the alliance document's layout)",
    "\nprotocol 4 (alliance/4, what devices speak to each other)"
);

/// Design your alliance together: needs, a plan, a shared vision and expectations, and
/// check-ins, kept on each person's own devices, every change signed.
#[derive(Debug, Parser)]
#[command(
    name = "alliance",
    version = VERSION,
    long_version = LONG_VERSION,
    propagate_version = true
)]
pub struct Cli {
    /// Where this device keeps its key and alliances [default: the platform's data directory]
    #[arg(long, env = "ALLIANCE_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Which alliance, by ID (a prefix will do) or title, when this device holds several.
    #[arg(long, global = true, value_name = "ID|TITLE")]
    pub alliance: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Local socket for networking, e.g. 0.0.0.0:7070 or 127.0.0.1:0 [default: all interfaces,
    /// the port `serve` used last]
    #[arg(long, env = "ALLIANCE_BIND", global = true, value_name = "ADDR")]
    pub bind: Option<std::net::SocketAddr>,
    /// Relays for reaching devices across the internet: default (n0's public relays), disabled,
    /// or a relay URL
    #[arg(
        long,
        env = "ALLIANCE_RELAY",
        global = true,
        default_value = "disabled",
        value_name = "default|disabled|URL"
    )]
    pub relay: crate::net::endpoint::Relay,
    /// Do not look for devices on the local network (mDNS). Always off when bound to loopback.
    #[arg(long, env = "ALLIANCE_NO_MDNS", global = true)]
    pub no_mdns: bool,
    /// Finding devices by key wherever they are now: default (n0's lookup service), disabled,
    /// or your own lookup server's pkarr URL [default: default with `--relay default`, else
    /// disabled]
    #[arg(
        long,
        env = "ALLIANCE_LOOKUP",
        global = true,
        value_name = "default|disabled|URL"
    )]
    pub lookup: Option<crate::net::endpoint::Lookup>,
    /// No progress bars on the terminal (results and errors still print).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::DemoArgs),
    App(app::AppArgs),
    Init(init::InitArgs),
    Whoami(whoami::WhoamiArgs),
    New(new::NewArgs),
    List(list::ListArgs),
    Use(use_alliance::UseArgs),
    Forget(forget::ForgetArgs),
    Show(show::ShowArgs),
    Member(member::MemberArgs),
    Device(device::DeviceArgs),
    Leave(leave::LeaveArgs),
    Need(need::NeedArgs),
    Plan(plan::PlanArgs),
    Vision(vision::VisionArgs),
    Expect(expect::ExpectArgs),
    Checkin(checkin::CheckinArgs),
    Log(log::LogArgs),
    History(history::HistoryArgs),
    Blame(blame::BlameArgs),
    Diff(diff::DiffArgs),
    Status(status::StatusArgs),
    Prompts(prompts::PromptsArgs),
    Seen(seen::SeenArgs),
    Resolve(resolve::ResolveArgs),
    Verify(verify::VerifyArgs),
    Export(export::ExportArgs),
    Bundle(bundle::BundleArgs),
    Invite(invite::InviteArgs),
    Join(join::JoinArgs),
    Sync(sync::SyncArgs),
    Serve(serve::ServeArgs),
    Keeper(keeper::KeeperArgs),
    Peers(peers::PeersArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// Parses the command line, runs the command, prints any error, and returns the exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(match &cli.command {
        Command::Serve(a) => Logging::Running { verbose: a.verbose },
        Command::App(a) => Logging::Running { verbose: a.verbose },
        Command::Keeper(a) => Logging::Running {
            verbose: a.verbose(),
        },
        _ => Logging::Command,
    });
    let json = cli.json;
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let body = serde_json::json!({ "error": e.message() });
                eprintln!("{}", output::to_json(&body, false));
            } else {
                eprintln!("error: {}", e.message());
            }
            error::exit_code(&e)
        }
    }
}

/// Prints a command-line error (or help, or the version) and returns its exit code. clap's
/// usage line lists every option that has a value, and options set through the environment
/// (`ALLIANCE_HOME`, `ALLIANCE_RELAY`, ...) always have one, so the line would read as if they
/// were required: it is replaced by the command's own usage.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::CommandFactory;
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let mut cmd = Cli::command();
    cmd.build();
    // The subcommand the person typed, as deep as it goes. Arguments are any bytes (a path need
    // not be UTF-8); one that is not text is no subcommand's name.
    let mut sub = &mut cmd;
    for arg in std::env::args_os().skip(1) {
        let Some(arg) = arg.to_str() else { continue };
        if sub.find_subcommand(arg).is_none() {
            continue;
        }
        sub = sub.find_subcommand_mut(arg).expect("found above");
    }
    let usage = sub.render_usage().to_string();
    let text = if e.kind() == ErrorKind::InvalidUtf8 {
        // clap's own words name no argument and no way out.
        "error: an argument is not valid UTF-8 text, so it cannot be written into the alliance; \
         type it again as text (check that the terminal uses UTF-8, e.g. LANG=C.UTF-8)\n\n\
         Usage: \n"
            .to_string()
    } else {
        e.render().to_string()
    };
    let fixed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("Usage: ") {
                usage.lines().next().unwrap_or(l).to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    eprintln!("{}", fixed.join("\n"));
    ExitCode::from(2)
}

/// What a command logs.
enum Logging {
    /// A command that runs and exits: warnings.
    Command,
    /// A running device (`serve`, `app`, `keeper`): it prints what happens in words; the
    /// technical lines (connections, sessions, addresses; warnings) only with `-v`.
    Running { verbose: bool },
}

/// Diagnostics go to stderr: warnings for commands, errors only for a running device unless
/// `-v` (its own lines say what happens in words). `ALLIANCE_LOG` takes a tracing filter
/// (e.g. `alliance=debug`). Coloured only on a terminal (as anstream decides for stderr: never
/// in a file or a pipe, never with `NO_COLOR`).
fn init_logging(logging: Logging) {
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    let default = match logging {
        Logging::Command => "alliance=warn",
        Logging::Running { verbose: true } => "alliance=info",
        Logging::Running { verbose: false } => "alliance=error",
    };
    let filter = std::env::var("ALLIANCE_LOG").unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

fn dispatch(cli: Cli) -> Result<(), DeviceError> {
    // Generated from the definitions alone: no home, no key, no alliance needed.
    let cli = match cli.command {
        Command::Completions(a) => return completions::run(a),
        Command::Man(a) => return man::run(a),
        command => Cli { command, ..cli },
    };
    output::init_color(cli.json);
    let mut ctx = Context::new(cli.home, cli.alliance, cli.json)?;
    ctx.out.quiet = cli.quiet;
    ctx.net = crate::net::endpoint::NetConfig {
        bind: cli.bind,
        lookup: cli
            .lookup
            .unwrap_or_else(|| crate::net::endpoint::Lookup::follow(&cli.relay)),
        relay: cli.relay,
        mdns: !cli.no_mdns,
        relay_ca: None,
        lookup_dns: None,
    };
    match cli.command {
        Command::Demo(a) => demo::run(&mut ctx, a),
        Command::App(a) => app::run(&mut ctx, a),
        Command::Init(a) => init::run(&mut ctx, a),
        Command::Whoami(a) => whoami::run(&mut ctx, a),
        Command::New(a) => new::run(&mut ctx, a),
        Command::List(a) => list::run(&mut ctx, a),
        Command::Use(a) => use_alliance::run(&mut ctx, a),
        Command::Forget(a) => forget::run(&mut ctx, a),
        Command::Show(a) => show::run(&mut ctx, a),
        Command::Member(a) => member::run(&mut ctx, a),
        Command::Device(a) => device::run(&mut ctx, a),
        Command::Leave(a) => leave::run(&mut ctx, a),
        Command::Need(a) => need::run(&mut ctx, a),
        Command::Plan(a) => plan::run(&mut ctx, a),
        Command::Vision(a) => vision::run(&mut ctx, a),
        Command::Expect(a) => expect::run(&mut ctx, a),
        Command::Checkin(a) => checkin::run(&mut ctx, a),
        Command::Log(a) => log::run(&mut ctx, a),
        Command::History(a) => history::run(&mut ctx, a),
        Command::Blame(a) => blame::run(&mut ctx, a),
        Command::Diff(a) => diff::run(&mut ctx, a),
        Command::Status(a) => status::run(&mut ctx, a),
        Command::Prompts(a) => prompts::run(&mut ctx, a),
        Command::Seen(a) => seen::run(&mut ctx, a),
        Command::Resolve(a) => resolve::run(&mut ctx, a),
        Command::Verify(a) => verify::run(&mut ctx, a),
        Command::Export(a) => export::run(&mut ctx, a),
        Command::Bundle(a) => bundle::run(&mut ctx, a),
        Command::Invite(a) => invite::run(&mut ctx, a),
        Command::Join(a) => join::run(&mut ctx, a),
        Command::Sync(a) => sync::run(&mut ctx, a),
        Command::Serve(a) => serve::run(&mut ctx, a),
        Command::Keeper(a) => keeper::run(&mut ctx, a),
        Command::Peers(a) => peers::run(&mut ctx, a),
        Command::Completions(_) | Command::Man(_) => unreachable!("run before the context"),
    }
}
