//! The steps a person takes on this device above the core, shared by its two doors: the
//! `alliance` command (`cli/commands/*.rs`) and the family's page (`app/`). Each door parses
//! what the person typed and shows the result its own way; what happens in between is here, so
//! the page is a second door onto the same calls, never a second implementation.

use crate::core::invite::{Invite, Invites};
use crate::core::status::{QuarantinedPeer, Status};
use crate::core::{AllianceId, DeviceKey, Edited, Entropy, ItemId, Replica, Timestamp, Writer};
use crate::device::{DeviceError, Result};
use crate::net::endpoint::{NetConfig, addr_for, bind, device_of, direct_addrs};
use crate::net::node::{add_invite, join_reporting, save_join};
use crate::net::ticket::InviteTicket;
use crate::store::{Home, Identity, InitOutcome, LockMode, OpenAlliance};

/// Sets up this device for `name`: a fresh key from `entropy` (nothing changes when the
/// device is set up already). Returns the identity and whether it was created.
pub fn init(home: &Home, name: &str, entropy: &mut dyn Entropy) -> Result<(Identity, bool)> {
    let name = crate::core::text::check_name(name)
        .map_err(|why| DeviceError::user(format!("your name: {why}")))?;
    let mut seed = [0u8; 32];
    entropy.fill(&mut seed);
    Ok(match home.init(&name, seed)? {
        InitOutcome::Created(i) => (i, true),
        InitOutcome::AlreadySetUp(i) => (i, false),
    })
}

/// Founds an alliance on this device with its person as the first member, from the starting
/// point the founder chose (`start`: which prompts every device shows; see `core::seed`).
pub fn create_alliance(
    home: &Home,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    title: &str,
    role: &str,
    start: Option<crate::core::seed::Start>,
) -> Result<(AllianceId, ItemId)> {
    // Titles pick alliances (`--alliance TITLE`, `alliance use TITLE`): two alike could not be
    // told apart.
    let wanted = title.trim();
    for id in home.alliance_ids()? {
        let existing = home.open(&id, LockMode::Shared)?.replica().view().title;
        if existing.trim().eq_ignore_ascii_case(wanted) {
            return Err(DeviceError::user(format!(
                "this device already holds an alliance titled \"{existing}\" ({}); choose another title",
                id.short()
            )));
        }
    }
    let mut tag = [0u8; 8];
    entropy.fill(&mut tag);
    let writer = Writer {
        key: &identity.key,
        actor_tag: tag,
        now,
    };
    let (replica, member, genesis) =
        Replica::create_for(&writer, entropy, title, &identity.name, role, start)?;
    home.create_alliance(&replica.id(), std::slice::from_ref(&genesis), Some(tag))?;
    home.set_default_alliance(&replica.id())?;
    Ok((replica.id(), member))
}

/// Runs one edit as this device on an alliance opened for writing (its lock held): draws the
/// device's actor tag, runs `f` (one core call: one signed change), and makes the change
/// durable before returning. Both doors' edits go through here.
pub fn edit_on<F>(
    open: &mut OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    f: F,
) -> Result<Edited>
where
    F: FnOnce(&mut Replica, &Writer<'_>, &mut dyn Entropy) -> Result<Edited>,
{
    // A device that is no longer a member hears why (who removed it, when) before anything;
    // a reader hears that readers write nothing.
    let person = me(open, identity)?;
    open.replica().writes(&person)?;
    let tag = open.actor_tag(entropy)?;
    let writer = Writer {
        key: &identity.key,
        actor_tag: tag,
        now,
    };
    let edited = f(open.replica_mut(), &writer, entropy)?;
    if let Some(change) = &edited.change {
        open.persist(std::slice::from_ref(change))?;
    }
    Ok(edited)
}

/// [`edit_on`] for an edit that needs the history index (settling a text conflict, agreeing
/// to an expectation only once its text is settled): the store's index, brought up to date
/// (and not saved, so a refused edit writes nothing).
pub fn edit_indexed<F>(
    open: &mut OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    f: F,
) -> Result<Edited>
where
    F: FnOnce(&mut Replica, &Writer<'_>, &crate::core::index::ChangeIndex) -> Result<Edited>,
{
    let index = open.change_index_unsaved();
    edit_on(open, identity, entropy, now, |r, w, _| f(r, w, &index))
}

/// This device's person in the alliance, or a message saying how to become one.
pub fn me(open: &OpenAlliance, identity: &Identity) -> Result<ItemId> {
    let device = identity.key.device_id();
    if let Some(me) = open.replica().member_of(&device) {
        return Ok(me);
    }
    let view = open.replica().roster();
    // A device that was removed, or whose person left or was removed: say so, by whom, when.
    let removal = view.device(&device.to_hex()).and_then(|d| {
        let person = view.member(&d.member)?;
        match (&person.removed, &d.removed) {
            (Some(r), _) if r.by == person.id => Some(format!("you left it on {}", r.at.date())),
            (Some(r), _) => Some(format!(
                "{} removed you on {}",
                view.name_of(&r.by),
                r.at.date()
            )),
            (None, Some(r)) => Some(format!(
                "{} removed this device on {}",
                view.name_of(&r.by),
                r.at.date()
            )),
            (None, None) => None,
        }
    });
    Err(DeviceError::user(match removal {
        Some(how) => format!(
            "this device is no longer a member of \"{}\": {how}. What it holds stays readable here; `alliance forget` removes it from this device",
            view.title
        ),
        None => "this device is not a member of the alliance; `alliance join TICKET` with an invite from a member".to_string(),
    }))
}

/// What needs this person's attention (`alliance status`), with the peers this device refuses
/// for now from its address book.
pub fn status(open: &OpenAlliance, me: &ItemId, now: Timestamp) -> Result<Status> {
    let seen = open.seen()?.heads();
    let index = open.change_index();
    let replica = open.replica();
    let mut status = replica.status_with(
        &index,
        me,
        seen.as_deref(),
        now,
        open.conflicts_with(&index),
    );
    let book = open.peer_book()?;
    status.quarantined_peers = book
        .peers
        .keys()
        .filter_map(|device| {
            let q = book.quarantined(device, now)?;
            Some(QuarantinedPeer {
                device: device.clone(),
                until: Timestamp(q.until),
                reason: q.reason.clone(),
            })
        })
        .collect();
    let shared = shared_heads(open)?;
    status.unshared = replica.unshared(&index, me, &shared);
    status.keepers = keepers_hold(open, &index, me, &shared)?;
    Ok(status)
}

/// What this device knows the others have: the heads kept with each peer device.
fn shared_heads(
    open: &OpenAlliance,
) -> Result<Vec<(crate::core::DeviceId, Vec<automerge::ChangeHash>)>> {
    let mut shared = Vec::new();
    for device in open.replica().roster().devices {
        let Ok(id) = device.key.parse::<crate::core::DeviceId>() else {
            continue;
        };
        if let Some(bytes) = open.sync_state(&device.key)? {
            let heads = crate::core::sync::PeerSync::decode(&bytes)
                .shared_heads()
                .to_vec();
            shared.push((id, heads));
        }
    }
    Ok(shared)
}

/// What each keeper holds of `me`'s changes, and when this device last synced with it.
fn keepers_hold(
    open: &OpenAlliance,
    index: &crate::core::index::ChangeIndex,
    me: &ItemId,
    shared: &[(crate::core::DeviceId, Vec<automerge::ChangeHash>)],
) -> Result<Vec<crate::core::status::KeeperHolds>> {
    let book = open.peer_book()?;
    let mut keepers = open.replica().keepers_hold(index, me, shared);
    for k in &mut keepers {
        k.last_sync = book
            .peers
            .get(&k.device)
            .and_then(|p| p.last_seen)
            .map(Timestamp);
    }
    Ok(keepers)
}

/// What each keeper of the alliance holds of `me`'s changes (`status` and the page say it).
pub fn keepers(open: &OpenAlliance, me: &ItemId) -> Result<Vec<crate::core::status::KeeperHolds>> {
    keepers_hold(open, &open.change_index(), me, &shared_heads(open)?)
}

/// Whether this device may invite a new person (its person is an admin), with a message that
/// says whom to ask when not.
pub fn can_invite(open: &OpenAlliance, identity: &Identity) -> Result<()> {
    let device = identity.key.device_id();
    match open.replica().admin_device(&device, "invite a new person") {
        Ok(_) => Ok(()),
        Err(crate::core::EditError::NotAMember(_)) => Err(DeviceError::user(
            "this device is not a member of the alliance, so it cannot invite",
        )),
        Err(e) => Err(DeviceError::user(format!(
            "{e} (to add a device of your own, use `alliance device link`)"
        ))),
    }
}

/// Who an invite is for, as the inviting person describes them.
#[derive(Debug, Clone, Copy)]
pub struct Invitee<'a> {
    /// The role they get: parent, teen, coach, client...
    pub role: &'a str,
    /// What the invite is called ("for Zoe"); empty for none.
    pub label: &'a str,
    /// A reader: syncs and sees everything, writes nothing.
    pub reader: bool,
}

/// Makes an invite for a new person (admins only) on this device (only the hash of its secret
/// is kept) and its ticket, which names the addresses this device serves on (`addrs`). A
/// `reader`'s invite adds a person who syncs and sees everything and writes nothing.
#[allow(clippy::too_many_arguments)]
pub fn create_invite(
    open: &OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    invitee: &Invitee<'_>,
    valid_secs: i64,
    addrs: &[String],
) -> Result<(Invite, InviteTicket)> {
    can_invite(open, identity)?;
    let role = invitee.role.trim();
    if role.is_empty() {
        return Err(DeviceError::user("the role must not be empty"));
    }
    let label = invite_label(invitee.label)?;
    let secret = fresh_secret(open, entropy)?;
    let invite = Invite {
        label,
        reader: invitee.reader,
        ..Invite::new(&secret, role, now, valid_secs)
    };
    keep_and_ticket(open, identity, invite, secret, addrs)
}

/// An invite's label ("for Zoe", "Zoe's phone") as the person typed it: `None` when empty;
/// held to the rule for names (short, no invisible characters).
fn invite_label(label: &str) -> Result<Option<String>> {
    if label.trim().is_empty() {
        return Ok(None);
    }
    crate::core::text::check_name(label)
        .map(Some)
        .map_err(|why| DeviceError::user(format!("the label: {why}")))
}

/// Keeps an invite (or link) this device made and returns it with the ticket that carries its
/// secret and this device's addresses.
fn keep_and_ticket(
    open: &OpenAlliance,
    identity: &Identity,
    invite: Invite,
    secret: [u8; 32],
    addrs: &[String],
) -> Result<(Invite, InviteTicket)> {
    add_invite(open, invite.clone())?;
    let ticket = InviteTicket {
        alliance: open.replica().id().0.0,
        inviter: addr_for(&identity.key.device_id(), addrs, None),
        secret,
    };
    Ok((invite, ticket))
}

/// Makes a link ticket: the device that joins with it becomes another device of this device's
/// person (`alliance device link`). Single use and expiring, like an invite.
pub fn create_link(
    open: &OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    label: &str,
    valid_secs: i64,
    addrs: &[String],
) -> Result<(Invite, InviteTicket)> {
    let me = open
        .replica()
        .member_of(&identity.key.device_id())
        .ok_or_else(|| {
            DeviceError::user(
                "this device is not a member of the alliance, so it cannot link another",
            )
        })?;
    let label = invite_label(label)?;
    // Linking writes the new device into the alliance, which a reader does not.
    open.replica().writes(&me)?;
    let secret = fresh_secret(open, entropy)?;
    let invite = Invite {
        label,
        ..Invite::link(&secret, me.as_str(), now, valid_secs)
    };
    keep_and_ticket(open, identity, invite, secret, addrs)
}

/// A ticket secret no invite of this device uses yet (randomness pinned for tests repeats
/// from one process to the next).
fn fresh_secret(open: &OpenAlliance, entropy: &mut dyn Entropy) -> Result<[u8; 32]> {
    let invites = open.invites()?;
    loop {
        let mut secret = [0u8; 32];
        entropy.fill(&mut secret);
        let hash = crate::core::invite::secret_hash(&secret);
        if invites.invites.iter().all(|i| i.secret_hash != hash) {
            return Ok(secret);
        }
    }
}

/// The invites made on this device.
pub fn invites(open: &OpenAlliance) -> Result<Invites> {
    Ok(open.invites()?)
}

/// Revokes an open invite by its ID; returns the ID as matched.
pub fn revoke_invite(open: &OpenAlliance, id: &str) -> Result<String> {
    let id = id.trim().to_lowercase();
    open.update_invites(|invites| {
        if id.len() < 4 || !invites.revoke(&id) {
            return Err(DeviceError::user(format!(
                "no invite '{id}' on this device; `alliance invite list` shows them"
            )));
        }
        Ok(())
    })?;
    Ok(id)
}

/// One member device as `alliance peers` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceRow {
    /// Whose device it is.
    pub name: String,
    pub member: ItemId,
    pub device: String,
    /// What this device's person calls it ("Zoe's phone"): the name given here, or the label
    /// of the link ticket it joined with (device-local: the others do not see it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub this_device: bool,
    pub added_at: Timestamp,
    /// Set when the device, or its person, was removed: by whom (a name) and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<(String, Timestamp)>,
    pub last_seen: Option<Timestamp>,
    pub addrs: Vec<String>,
    pub last_error: Option<String>,
}

/// The member devices: whose, what this device calls them, whether they were removed, last
/// seen, the addresses this device knows for them.
pub fn devices(open: &OpenAlliance, me: Option<&str>) -> Result<Vec<DeviceRow>> {
    let view = open.replica().view();
    let book = open.peer_book()?;
    let invites = open.invites()?;
    Ok(view
        .devices
        .iter()
        // Keepers belong to no person: they are listed on their own (`keepers`).
        .filter(|d| !d.keeper)
        .map(|d| {
            let info = book.peers.get(&d.key).cloned().unwrap_or_default();
            let linked = invites
                .invites
                .iter()
                .filter(|i| i.used_by.as_deref() == Some(d.key.as_str()))
                .find_map(|i| i.label.clone());
            // A device is out when it was removed, or its person was.
            let removed = d
                .removed
                .as_ref()
                .or_else(|| view.member(&d.member).and_then(|m| m.removed.as_ref()))
                .map(|r| (view.name_of(&r.by), r.at));
            DeviceRow {
                name: view.name_of(&d.member),
                member: d.member.clone(),
                device: d.key.clone(),
                label: info.name.clone().or(linked),
                this_device: me == Some(d.key.as_str()),
                added_at: d.added_at,
                removed,
                last_seen: info.last_seen.map(Timestamp),
                addrs: info.addrs,
                last_error: info.last_error,
            }
        })
        .collect())
}

/// A device of the alliance given by its key or a prefix of it (at least 6 hex characters).
pub fn device_key(open: &OpenAlliance, given: &str) -> Result<crate::core::DeviceId> {
    let view = open.replica().roster();
    let given = given.trim().to_lowercase();
    if let Ok(key) = given.parse::<crate::core::DeviceId>() {
        return Ok(key);
    }
    if given.len() < 6 {
        return Err(DeviceError::user(
            "give at least 6 characters of the device key; `alliance device list` shows them",
        ));
    }
    let matches: Vec<&str> = view
        .devices
        .iter()
        .filter(|d| d.key.starts_with(&given))
        .map(|d| d.key.as_str())
        .collect();
    match matches.as_slice() {
        [one] => one
            .parse()
            .map_err(|_| DeviceError::user("that device key is malformed")),
        [] => Err(DeviceError::user(format!(
            "no device starts with '{given}'; `alliance device list` shows them"
        ))),
        _ => Err(DeviceError::user(format!(
            "several devices start with '{given}'; give more characters"
        ))),
    }
}

/// Names a device of the alliance on this device ("Zoe's phone"): kept in this device's
/// address book, shown on its page; an empty name forgets it. Returns the name kept.
pub fn name_device(open: &OpenAlliance, device: &str, name: &str) -> Result<Option<String>> {
    if open.replica().roster().device(device).is_none() {
        return Err(DeviceError::user("that device is not in this alliance"));
    }
    let name = if name.trim().is_empty() {
        None
    } else {
        Some(
            crate::core::text::check_name(name)
                .map_err(|why| DeviceError::user(format!("the device's name: {why}")))?,
        )
    };
    let kept = name.clone();
    open.update_peer_book(|book| book.peers.entry(device.to_string()).or_default().name = name)?;
    Ok(kept)
}

/// Removes a device (a lost phone): one of this person's, or anyone's for an admin. Final.
pub fn remove_device(
    open: &mut OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    device: &crate::core::DeviceId,
) -> Result<Edited> {
    edit_on(open, identity, entropy, now, |r, w, _| {
        Ok(r.remove_device(w, device)?)
    })
}

/// Removes a person from the alliance (admins only). Final.
pub fn remove_member(
    open: &mut OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
    member: &ItemId,
) -> Result<Edited> {
    edit_on(open, identity, entropy, now, |r, w, _| {
        Ok(r.remove_member(w, member)?)
    })
}

/// This device's person leaves the alliance: their devices stop syncing it. Final.
pub fn leave(
    open: &mut OpenAlliance,
    identity: &Identity,
    entropy: &mut dyn Entropy,
    now: Timestamp,
) -> Result<Edited> {
    let me = me(open, identity)?;
    edit_on(open, identity, entropy, now, |r, w, _| {
        Ok(r.remove_member(w, &me)?)
    })
}

/// What [`join`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Joined {
    pub alliance: String,
    pub title: String,
    pub name: String,
    pub device: String,
    pub received: usize,
}

/// Joins an alliance with a ticket: dials the inviting device, receives the whole alliance
/// (verified), and stores it. A device that is not set up yet is set up for `name` only if the
/// join succeeds. `progress` hears how receiving the alliance is going.
pub async fn join(
    home: &Home,
    net: &NetConfig,
    ticket: &str,
    name: Option<&str>,
    entropy: &mut (dyn Entropy + Send),
    now: Timestamp,
    progress: Option<crate::net::session::OnProgress>,
) -> Result<Joined> {
    let ticket: InviteTicket = ticket
        .trim()
        .parse()
        .map_err(|e: crate::net::ticket::BadTicket| DeviceError::user(e.to_string()))?;
    let id = AllianceId(automerge::ChangeHash(ticket.alliance));
    if home.alliance_ids()?.contains(&id) {
        return Err(DeviceError::user(format!(
            "alliance {} is already on this device; use `alliance sync`",
            id.short()
        )));
    }
    // An existing identity is used as it is; a new one is only written if the join succeeds.
    let (key, seed_to_save, name) = match home.identity() {
        Ok(identity) => {
            let name = name
                .map(str::to_string)
                .unwrap_or_else(|| identity.name.clone());
            (identity.key, None, name)
        }
        // A new device with no name: it may be joining an existing person (a link ticket);
        // the inviting device says if the ticket needs a name.
        Err(crate::store::StoreError::NoIdentity { .. }) => {
            let name = name.map(str::to_string).unwrap_or_default();
            let mut seed = [0u8; 32];
            entropy.fill(&mut seed);
            (DeviceKey::from_seed(seed), Some(seed), name)
        }
        Err(e) => return Err(e.into()),
    };
    let name = if name.trim().is_empty() {
        String::new()
    } else {
        crate::core::text::check_name(&name)
            .map_err(|why| DeviceError::user(format!("your name: {why}")))?
    };
    let endpoint = bind(&key, net).await?;
    let joined = join_reporting(&endpoint, &ticket, &name, direct_addrs(&endpoint), progress).await;
    endpoint.close().await;
    let (target, report, addrs) = match joined {
        Ok(j) => j,
        // The inviting device is not there: the most common reason a join fails.
        Err(crate::net::NetError::Unreachable { reason, .. }) => {
            return Err(DeviceError::user(format!(
                "could not reach the inviting device ({reason}); it must be running `alliance serve` (or `alliance app`) and be reachable from here (the same network, or relays on both devices); ask them to check, then try again: the ticket stays good until it expires"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    // The person this device now acts for (a link ticket: an existing one).
    let person = target
        .member_of(&key.device_id())
        .map(|m| target.roster().name_of(&m))
        .unwrap_or_else(|| name.clone());
    if let Some(seed) = seed_to_save {
        home.init(&person, seed)?;
    }
    let inviter = device_of(&ticket.inviter.id);
    let mut all_addrs = addrs;
    all_addrs.extend(ticket.inviter.ip_addrs().map(|a| a.to_string()));
    save_join(home, &target, &inviter, &all_addrs, now)?;
    home.set_default_alliance(&id)?;
    let title = home.open(&id, LockMode::Shared)?.replica().view().title;
    Ok(Joined {
        alliance: id.to_string(),
        title,
        name: person.trim().to_string(),
        device: key.device_id().to_hex(),
        received: report.received,
    })
}
