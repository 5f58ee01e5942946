//! What every command needs: the home, this device's identity, the selected alliance, the
//! clock and randomness (pinned by environment variables in tests), and the output layer.

use std::path::PathBuf;

use crate::cli::output::Output;
use crate::core::{AllianceId, AllianceView, Edited, Entropy, ItemId, Replica, Timestamp, Writer};
use crate::device::{DeviceError, Result};
use crate::store::{Home, Identity, LockMode, OpenAlliance};

pub struct Context {
    pub home: Home,
    pub out: Output,
    pub alliance: Option<String>,
    pub entropy: Box<dyn Entropy + Send>,
    pub now: Timestamp,
    /// How to set up networking (from --bind, --relay, --no-mdns).
    pub net: crate::net::endpoint::NetConfig,
}

impl Context {
    pub fn new(home: Option<PathBuf>, alliance: Option<String>, json: bool) -> Result<Self> {
        let home = match home {
            Some(h) => h,
            None => dirs::data_dir()
                .map(|d| d.join("alliance"))
                .ok_or_else(|| {
                    DeviceError::user(
                        "cannot find a data directory for this user; pass --home DIR or set ALLIANCE_HOME",
                    )
                })?,
        };
        if let Some(v) = crate::system::test_var(crate::system::ENV_NOW, crate::system::TEST_HOOKS)
            && v.parse::<i64>().is_err()
        {
            return Err(DeviceError::user(format!(
                "{} must be Unix seconds",
                crate::system::ENV_NOW
            )));
        }
        let now = crate::system::now();
        // The arguments as typed (any bytes: a path need not be UTF-8), salting the test seed.
        let argv = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("\0");
        let entropy = crate::system::entropy(&argv).map_err(DeviceError::user)?;
        Ok(Context {
            home: Home::new(home),
            out: Output { json, quiet: false },
            alliance,
            entropy,
            now,
            net: crate::net::endpoint::NetConfig::loopback(),
        })
    }

    pub fn identity(&self) -> Result<Identity> {
        Ok(self.home.identity()?)
    }

    /// Resolves `--alliance` (an ID prefix or a title) or the only alliance on this device.
    pub fn alliance_id(&self) -> Result<AllianceId> {
        match self.alliance.as_deref() {
            Some(sel) => self.select(sel),
            None => self.default_alliance(),
        }
    }

    /// The alliance to use when none is named: the only one, or the default (`alliance use`, or
    /// the last one created or joined here).
    fn default_alliance(&self) -> Result<AllianceId> {
        let ids = self.home.alliance_ids()?;
        match ids.as_slice() {
            [] if self.home.identity().is_err() => Err(DeviceError::user(
                "this device is not set up yet: run `alliance init --name YOUR_NAME`, then `alliance new TITLE` or `alliance join TICKET`",
            )),
            [] => Err(DeviceError::user(
                "there is no alliance on this device yet; create one with `alliance new TITLE`, or join one with `alliance join TICKET`",
            )),
            [one] => Ok(*one),
            _ => self.home.default_alliance().ok_or_else(|| {
                DeviceError::user(format!(
                    "this device holds {} alliances ({}); choose one for this command with --alliance ID|TITLE, or for every command with `alliance use ID|TITLE`",
                    ids.len(),
                    self.titles(&ids).join(", ")
                ))
            }),
        }
    }

    /// Every alliance here (the default first), for the commands that act on all of them
    /// when none is named (`status`, `sync`); just the named one with `--alliance`.
    pub fn alliances_for_all(&self) -> Result<Vec<AllianceId>> {
        if self.alliance.is_some() {
            return Ok(vec![self.alliance_id()?]);
        }
        let mut ids = self.home.alliance_ids()?;
        if let Some(d) = self.home.default_alliance() {
            ids.retain(|i| *i != d);
            ids.insert(0, d);
        }
        Ok(ids)
    }

    /// "Title (id)" of each alliance, for messages.
    fn titles(&self, ids: &[AllianceId]) -> Vec<String> {
        ids.iter()
            .map(|id| {
                let title = self
                    .home
                    .open(id, LockMode::Shared)
                    .map(|o| o.replica().view().title)
                    .unwrap_or_default();
                format!("\"{}\" {}", title, id.short())
            })
            .collect()
    }

    /// The alliance `sel` names: an ID (or a prefix of at least 4 characters), or a title.
    pub fn select(&self, sel: &str) -> Result<AllianceId> {
        let ids = self.home.alliance_ids()?;
        let sel_lower = sel.trim().to_lowercase();
        let hex = !sel_lower.is_empty() && sel_lower.chars().all(|c| c.is_ascii_hexdigit());
        if hex && sel_lower.len() >= 4 {
            let matches: Vec<_> = ids
                .iter()
                .filter(|id| id.to_string().starts_with(&sel_lower))
                .collect();
            if let [one] = matches.as_slice() {
                return Ok(**one);
            }
            if matches.len() > 1 {
                return Err(DeviceError::user(format!(
                    "'{sel}' matches {} alliances; type more of the ID",
                    matches.len()
                )));
            }
        }
        let mut by_title = Vec::new();
        for id in &ids {
            let open = self.home.open(id, LockMode::Shared)?;
            if open.replica().view().title.to_lowercase() == sel_lower {
                by_title.push(*id);
            }
        }
        match by_title.as_slice() {
            [one] => Ok(*one),
            [] if hex && sel_lower.len() < 4 => Err(DeviceError::user(format!(
                "'{sel}' is too short to pick an alliance by its ID: give at least 4 characters (here: {})",
                self.titles(&ids).join(", ")
            ))),
            [] => Err(DeviceError::user(format!(
                "no alliance '{sel}' on this device; the ones here: {}",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    self.titles(&ids).join(", ")
                }
            ))),
            _ => Err(DeviceError::user(format!(
                "several alliances are titled '{sel}'; use the ID instead (see `alliance list`)"
            ))),
        }
    }

    /// Asks the person before something that is hard to undo: `question`, then `prompt` with
    /// [y/N] on the terminal. Without a terminal (or with `--json`) there is nobody to ask: the
    /// command is refused with `refusal` (which should name `--yes`). A "no" refuses it with
    /// `declined`.
    pub fn confirm(
        &self,
        question: &str,
        prompt: &str,
        refusal: &str,
        declined: &str,
    ) -> Result<()> {
        use std::io::IsTerminal;
        if self.out.json || !std::io::stdin().is_terminal() {
            return Err(DeviceError::user(format!("{question} {refusal}")));
        }
        eprint!("{question} {prompt} [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| DeviceError::user(format!("cannot read the answer: {e}")))?;
        match answer.trim().to_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(DeviceError::user(declined.to_string())),
        }
    }

    /// Opens the selected alliance for reading.
    pub fn read(&self) -> Result<OpenAlliance> {
        let id = self.alliance_id()?;
        Ok(self.home.open(&id, LockMode::Shared)?)
    }

    /// Opens the selected alliance for a review command: for reading, with the verdicts of
    /// this device's earlier checks (see `core::verdicts`; save them with
    /// `OpenAlliance::save_verdicts` when done).
    pub fn review(&self) -> Result<OpenAlliance> {
        let mut open = self.read()?;
        if let Ok(identity) = self.identity() {
            open.use_verdicts(&identity.key.to_seed());
        }
        Ok(open)
    }

    /// Opens the selected alliance for writing, with this device's identity.
    pub fn write(&mut self) -> Result<(OpenAlliance, Identity, [u8; 8])> {
        let identity = self.identity()?;
        let id = self.alliance_id()?;
        let mut open = self.home.open(&id, LockMode::Exclusive)?;
        let tag = open.actor_tag(self.entropy.as_mut())?;
        Ok((open, identity, tag))
    }

    pub fn writer<'a>(&self, identity: &'a Identity, tag: [u8; 8]) -> Writer<'a> {
        Writer {
            key: &identity.key,
            actor_tag: tag,
            now: self.now,
        }
    }
}

/// Runs a future on a fresh tokio runtime (networking commands only).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DeviceError::user(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

impl Context {
    /// The network configuration for `serve`: the port it used last when none was chosen, so a
    /// device keeps its address across restarts.
    pub fn serve_config(&self) -> crate::net::endpoint::NetConfig {
        self.serve_config_for(&self.home)
    }

    /// [`Context::serve_config`] for the node of `home` (a keeper's home, beside this one).
    pub fn serve_config_for(&self, home: &crate::store::Home) -> crate::net::endpoint::NetConfig {
        let mut config = self.net.clone();
        if config.bind.is_none()
            && let Some(port) = home
                .serve_announcement()
                .and_then(|s| {
                    s.addrs
                        .first()
                        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                })
                .map(|a| a.port())
        {
            config.bind = Some(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        }
        config
    }
}

/// Resolves a member given by ID or by name (case-insensitive).
pub fn member(view: &AllianceView, who: &str) -> Result<ItemId> {
    {
        if let Ok(id) = who.parse::<ItemId>()
            && view.member(&id).is_some()
        {
            return Ok(id);
        }
        let matches: Vec<_> = view
            .members
            .iter()
            .filter(|m| m.name.eq_ignore_ascii_case(who.trim()))
            .collect();
        match matches.as_slice() {
            [m] => Ok(m.id.clone()),
            [] => Err(DeviceError::user(format!(
                "no member '{who}'; `alliance show` lists the members"
            ))),
            _ => Err(DeviceError::user(format!(
                "several members are named '{who}'; use the member ID instead"
            ))),
        }
    }
}

/// Runs one edit on the selected alliance as this device: opens it for writing (lock held),
/// runs `f`, makes the resulting signed change durable, and returns what was done.
pub fn edit<F>(ctx: &mut Context, f: F) -> Result<Edited>
where
    F: FnOnce(&mut Replica, &Writer<'_>, &mut dyn Entropy) -> Result<Edited>,
{
    let identity = ctx.identity()?;
    let id = ctx.alliance_id()?;
    let mut open = ctx.home.open(&id, LockMode::Exclusive)?;
    crate::device::steps::edit_on(&mut open, &identity, ctx.entropy.as_mut(), ctx.now, f)
}

/// [`edit`] with the history index at hand (see [`crate::device::steps::edit_indexed`]).
pub fn edit_indexed<F>(ctx: &mut Context, f: F) -> Result<Edited>
where
    F: FnOnce(&mut Replica, &Writer<'_>, &crate::core::index::ChangeIndex) -> Result<Edited>,
{
    let identity = ctx.identity()?;
    let id = ctx.alliance_id()?;
    let mut open = ctx.home.open(&id, LockMode::Exclusive)?;
    crate::device::steps::edit_indexed(&mut open, &identity, ctx.entropy.as_mut(), ctx.now, f)
}

/// Prints the result of an edit: `{"id", "change", "summary"}` as JSON, or the summary.
pub fn report(ctx: &Context, edited: &Edited) {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        id: Option<&'a ItemId>,
        change: Option<String>,
        summary: &'a str,
        changed: bool,
    }
    let report = Report {
        id: edited.id.as_ref(),
        change: edited.change.as_ref().map(|c| c.hash().to_string()),
        summary: &edited.summary,
        changed: edited.change.is_some(),
    };
    ctx.out.emit(&report, || {
        if edited.change.is_some() {
            let mut s = edited.summary.clone();
            if let Some(first) = s.get(0..1) {
                s.replace_range(0..1, &first.to_uppercase());
            }
            s
        } else {
            format!("Nothing changed: {}", edited.summary)
        }
    });
}

/// Parses an item ID typed by a person, with a message that says what IDs look like.
pub fn item_id(s: &str) -> Result<ItemId> {
    s.parse()
        .map_err(|e: crate::core::ids::InvalidItemId| DeviceError::user(e.to_string()))
}
