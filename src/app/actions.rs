//! The page's forms, handled: each answers with what happened in words (the edit's summary, as
//! the CLI prints it) or a clear message, as JSON the script shows next to the form. Every edit
//! is one call of the core, through [`App::edit`] (the CLI's edit-then-persist path). Which
//! forms there are and the names of their fields are in [`super::forms`], which the views
//! render them from.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::PageError;
use super::forms::{Action, field};
use super::state::App;
use super::views;
use crate::core::conflicts::{Place, Resolution};
use crate::core::{Edited, ItemId, NewCheckIn};
use crate::device::DeviceError;
use crate::store::LockMode;

/// The answer to a form: what happened, in words, and where to go next, or a bit of HTML to
/// show (a new invite's ticket).
#[derive(Serialize, Default)]
struct Reply {
    ok: bool,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    go: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

fn answer(result: Result<Reply, PageError>) -> Response {
    match result {
        Ok(a) => axum::Json(a).into_response(),
        Err(e) => (
            e.status,
            axum::Json(Reply {
                ok: false,
                message: e.message,
                ..Reply::default()
            }),
        )
            .into_response(),
    }
}

/// A form's fields (a field may repeat: checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A text field, checked: line breaks made `\n`, no other control characters.
    fn text(&self, name: &str) -> Result<String, PageError> {
        let v = self.all(name).first().copied().unwrap_or("");
        clean(name, v)
    }

    fn id(&self, name: &str) -> Result<ItemId, PageError> {
        let v = self.text(name)?;
        v.trim()
            .parse()
            .map_err(|e: crate::core::ids::InvalidItemId| {
                PageError::new(StatusCode::BAD_REQUEST, e.to_string())
            })
    }

    fn ids(&self, name: &str) -> Result<Vec<ItemId>, PageError> {
        self.all(name)
            .into_iter()
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|e: crate::core::ids::InvalidItemId| {
                        PageError::new(StatusCode::BAD_REQUEST, e.to_string())
                    })
            })
            .collect()
    }
}

/// Text from the page: `\r\n` becomes `\n`; other control characters than newline and tab are
/// refused (no keyboard types them; a forged form might).
pub fn clean(field: &str, v: &str) -> Result<String, PageError> {
    let v = v.replace("\r\n", "\n");
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("the {field} contains a control character; please type plain text"),
        ));
    }
    Ok(v)
}

fn form_fields(body: &axum::body::Bytes) -> Result<Fields, PageError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(Fields)
        .map_err(|_| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "The form could not be read; please reload the page.",
            )
        })
}

pub(crate) async fn setup(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let name = f.text(field::NAME)?;
            let mut entropy = crate::system::entropy("app-setup").map_err(DeviceError::user)?;
            let (identity, _) =
                crate::device::steps::init(&app.device.home, &name, entropy.as_mut())?;
            app.device.refresh().await?;
            Ok(Reply {
                ok: true,
                message: format!("This device is set up for {}.", identity.name),
                go: Some("/".into()),
                html: None,
            })
        }
        .await,
    )
}

pub(crate) async fn create(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let (title, role) = (f.text(field::TITLE)?, f.text(field::ROLE)?);
            let start = match f.text(field::START)?.as_str() {
                "" => None,
                word => Some(word.parse().map_err(DeviceError::user)?),
            };
            let home = app.device.home.clone();
            let identity = home.identity().map_err(DeviceError::from)?;
            let mut entropy = crate::system::entropy("app-create").map_err(DeviceError::user)?;
            let (id, _) = crate::device::steps::create_alliance(
                &home,
                &identity,
                entropy.as_mut(),
                crate::system::now(),
                &title,
                &role,
                start,
            )?;
            app.device.refresh().await?;
            Ok(Reply {
                ok: true,
                message: format!("Created \"{}\".", title.trim()),
                go: Some(format!("/a/{id}/")),
                html: None,
            })
        }
        .await,
    )
}

pub(crate) async fn join(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let ticket = f.text(field::TICKET)?;
            let name = f.text(field::NAME)?;
            let name = (!name.trim().is_empty()).then_some(name);
            let mut entropy = crate::system::entropy("app-join").map_err(DeviceError::user)?;
            let mut net = app.device.config.clone();
            // The join dials out from a fresh socket; the node keeps its own port.
            if net.bind.is_some_and(|b| b.port() != 0) {
                net.bind = net.bind.map(|b| SocketAddr::new(b.ip(), 0));
            }
            let joined = crate::device::steps::join(
                &app.device.home,
                &net,
                &ticket,
                name.as_deref(),
                entropy.as_mut(),
                crate::system::now(),
                None,
            )
            .await?;
            app.device.refresh().await?;
            Ok(Reply {
                ok: true,
                message: format!(
                    "Joined \"{}\" as {}; received {} verified changes.",
                    joined.title, joined.name, joined.received
                ),
                go: Some(format!("/a/{}/", joined.alliance)),
                html: None,
            })
        }
        .await,
    )
}

/// What an edit did, in the first person and without IDs: `did` ("You added your need") and,
/// when the edit's summary ends with an excerpt of the words (our own core writes summaries
/// as "… ID: excerpt"), that excerpt in quotes. An edit that changed nothing says so.
fn said(edited: &Edited, did: &str) -> String {
    if edited.change.is_none() {
        return "Nothing changed: that was already so.".to_string();
    }
    if did.ends_with('.') {
        return did.to_string();
    }
    match edited.summary.split_once(": ") {
        Some((_, words)) if !words.trim().is_empty() => format!("{did}: “{}”.", words.trim()),
        _ => format!("{did}."),
    }
}

fn done(edited: Edited, did: &str) -> Reply {
    Reply {
        ok: true,
        message: said(&edited, did),
        ..Reply::default()
    }
}

/// A reply in words, with nothing else.
fn words(message: impl Into<String>) -> Reply {
    Reply {
        ok: true,
        message: message.into(),
        ..Reply::default()
    }
}

pub(crate) async fn action(
    State(app): State<Arc<App>>,
    UrlPath((aid, what)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    answer(
        async {
            let f = form_fields(&body)?;
            let Some(action) = Action::from_name(&what) else {
                return Err(PageError::new(
                    StatusCode::NOT_FOUND,
                    "That is not something this page does.",
                ));
            };
            if action.destroys() && f.text(field::CONFIRM)?.trim() != "yes" {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Nothing changed: this cannot be undone, so it needs the button that says what it does.",
                ));
            }
            run_action(&app, &aid, action, f).await
        }
        .await,
    )
}

/// Runs `action` with the form's fields `f`, read by the names the views render them with.
async fn run_action(
    app: &Arc<App>,
    aid: &str,
    action: Action,
    f: Fields,
) -> Result<Reply, PageError> {
    Ok(match action {
        Action::NeedAdd => {
            let text = f.text(field::TEXT)?;
            done(
                app.edit(aid, move |r, w, e| Ok(r.add_need(w, e, &text)?))
                    .await?,
                "You added your need",
            )
        }
        Action::NeedEdit => {
            let (id, text) = (f.id(field::ID)?, f.text(field::TEXT)?);
            done(
                app.edit(aid, move |r, w, _| Ok(r.edit_need(w, &id, &text)?))
                    .await?,
                "You reworded your need",
            )
        }
        Action::NeedRemove => {
            let id = f.id(field::ID)?;
            done(
                app.edit(aid, move |r, w, _| Ok(r.remove_need(w, &id)?))
                    .await?,
                "You removed your need",
            )
        }
        Action::PlanAdd => {
            let (when, how, agenda) = (
                f.text(field::WHEN)?,
                f.text(field::HOW)?,
                f.text(field::AGENDA)?,
            );
            let who = f.ids(field::WITH)?;
            done(
                app.edit(aid, move |r, w, e| {
                    Ok(r.add_plan(w, e, &when, &how, &agenda, &who)?)
                })
                .await?,
                "You planned a session",
            )
        }
        Action::PlanEdit => {
            let id = f.id(field::ID)?;
            let opt = |name: &str| -> Result<Option<String>, PageError> {
                if f.all(name).is_empty() {
                    Ok(None)
                } else {
                    f.text(name).map(Some)
                }
            };
            let (when, how, agenda) = (opt(field::WHEN)?, opt(field::HOW)?, opt(field::AGENDA)?);
            let with = if f.all(field::WITH_SENT).is_empty() {
                None
            } else {
                Some(f.ids(field::WITH)?)
            };
            // Only the fields that differ from what is there now, as `plan edit --when` does:
            // a reschedule must not also rewrite the place and agenda.
            let (_, (view, versions)) = app
                .read(aid, {
                    let id = id.clone();
                    move |open, c| {
                        let plan = c.view.plan.iter().find(|p| p.id == id).cloned();
                        let versions = open.replica().history(&open.change_index(), &id);
                        (plan, versions)
                    }
                })
                .await?;
            // Someone else changed the time or place since this form was drawn (a moment ago,
            // on another page): say who, from what, to what, and save nothing, rather than
            // silently replace their change.
            if let Some(p) = &view {
                for (name, was, now, new, words) in [
                    ("when", f.all(field::WAS_WHEN), &p.when, &when, "time"),
                    ("how", f.all(field::WAS_HOW), &p.how, &how, "place"),
                ] {
                    let Some(was) = was.first().map(|w| w.replace("\r\n", "\n")) else {
                        continue;
                    };
                    if &was == now || new.as_ref().is_none_or(|n| n == now) {
                        continue;
                    }
                    let who = versions
                        .iter()
                        .rev()
                        .find(|v| v.fields.iter().any(|fc| fc.field == name))
                        .map(|v| v.author.clone())
                        .unwrap_or_else(|| "Someone".into());
                    return Err(PageError::new(
                        StatusCode::CONFLICT,
                        format!(
                            "{who} changed the {words} a moment ago, from “{was}” to “{now}”. Nothing was saved: look again, then send yours if it should still change."
                        ),
                    ));
                }
            }
            let changed =
                |new: Option<String>, old: Option<&String>| new.filter(|n| Some(n) != old);
            let when = changed(when, view.as_ref().map(|p| &p.when));
            let how = changed(how, view.as_ref().map(|p| &p.how));
            let agenda = changed(agenda, view.as_ref().map(|p| &p.agenda));
            let with = with.filter(|new| {
                let mut new = new.clone();
                let mut old = view
                    .as_ref()
                    .map(|p| p.attendees.clone())
                    .unwrap_or_default();
                new.sort();
                old.sort();
                new != old
            });
            if view.is_some()
                && when.is_none()
                && how.is_none()
                && agenda.is_none()
                && with.is_none()
            {
                return Ok(words("Nothing changed."));
            }
            done(
                app.edit(aid, move |r, w, _| {
                    Ok(r.edit_plan_with(
                        w,
                        &id,
                        when.as_deref(),
                        how.as_deref(),
                        agenda.as_deref(),
                        with.as_deref(),
                    )?)
                })
                .await?,
                "You changed the session.",
            )
        }
        Action::ExpectAdd => {
            let text = f.text(field::TEXT)?;
            let holder = f.ids(field::HOLDER)?.into_iter().next();
            let of = f.ids(field::OF)?;
            done(
                app.edit(aid, move |r, w, e| {
                    Ok(r.add_expectation(w, e, &text, holder.as_ref(), &of)?)
                })
                .await?,
                "You proposed",
            )
        }
        Action::ExpectEdit => {
            let (id, text) = (f.id(field::ID)?, f.text(field::TEXT)?);
            done(
                app.edit(aid, move |r, w, _| Ok(r.edit_expectation(w, &id, &text)?))
                    .await?,
                "You reworded the expectation; earlier agreements to it no longer count.",
            )
        }
        Action::ExpectAgree => {
            let id = f.id(field::ID)?;
            done(
                app.with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::edit_indexed(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        |r, w, index| Ok(r.agree_settled(w, index, &id)?),
                    )
                })
                .await?,
                "You agreed to",
            )
        }
        Action::ExpectRetire => {
            let id = f.id(field::ID)?;
            done(
                app.edit(aid, move |r, w, _| Ok(r.retire(w, &id)?)).await?,
                "You retired",
            )
        }
        Action::CheckinAdd => {
            let rating = rating(&f)?;
            let reflection = f.text(field::REFLECTION)?;
            let proposed_changes = lines(&f.text(field::PROPOSE)?);
            let next_in_days = crate::device::parse::cadence(&f.text(field::NEXT)?)?;
            let new = NewCheckIn {
                date: crate::system::now().date(),
                rating,
                reflection,
                proposed_changes,
                next_in_days,
            };
            done(
                app.edit(aid, move |r, w, e| Ok(r.add_checkin(w, e, new)?))
                    .await?,
                "You recorded your check-in.",
            )
        }
        Action::CheckinReflect => {
            let id = f.id(field::ID)?;
            let rating = rating(&f)?;
            let reflection = f.text(field::REFLECTION)?;
            let propose = lines(&f.text(field::PROPOSE)?);
            done(
                app.edit(aid, move |r, w, _| {
                    Ok(r.reflect(w, &id, rating, &reflection, &propose)?)
                })
                .await?,
                "You added your reflection.",
            )
        }
        Action::Resolve => {
            let id = f.text(field::ID)?;
            let target = if id.trim().eq_ignore_ascii_case("alliance") {
                Place::Alliance
            } else if id.trim().eq_ignore_ascii_case("vision") {
                Place::Vision
            } else {
                Place::Item(f.id(field::ID)?)
            };
            let which = f.text(field::FIELD)?;
            let pick: usize =
                f.text(field::PICK)?.trim().parse().map_err(|_| {
                    PageError::new(StatusCode::BAD_REQUEST, "choose one of the values")
                })?;
            done(
                app.with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::edit_indexed(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        |r, w, index| {
                            Ok(r.resolve_with(w, index, &target, &which, Resolution::Pick(pick))?)
                        },
                    )
                })
                .await?,
                "You kept that one; the other stays in the history.",
            )
        }
        Action::Seen => {
            let n = app
                .with_open(aid, LockMode::Shared, |open, _, _| {
                    let heads = open.replica().heads();
                    open.save_seen(&crate::store::Seen::new(&heads, crate::system::now()))?;
                    Ok(open.replica().len())
                })
                .await?;
            // The seen marker is device-local: tell this device's pages ourselves.
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            words(match n {
                1 => "You marked the one change as read.".to_string(),
                n => format!("You marked all {n} changes as read."),
            })
        }
        Action::Invite => {
            let valid = crate::device::parse::parse(
                "expires",
                &f.text(field::EXPIRES)?,
                365 * crate::device::parse::DAY,
            )?;
            let role = f.text(field::ROLE)?;
            let label = f.text(field::LABEL)?;
            let reader = !f.text(field::READER)?.is_empty();
            let addrs = app.device.info().map(|i| i.addrs).unwrap_or_default();
            let (invite, ticket) = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::create_invite(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        &crate::device::steps::Invitee {
                            role: &role,
                            label: &label,
                            reader,
                        },
                        valid,
                        &addrs,
                    )
                })
                .await?;
            let ticket = ticket.to_string();
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Reply {
                ok: true,
                message: match &invite.label {
                    Some(label) => format!("You made an invite {label}."),
                    None => "You made an invite.".to_string(),
                },
                html: Some(views::ticket(&ticket, &invite).into_string()),
                ..Reply::default()
            }
        }
        Action::KeeperAdd => {
            let ticket = crate::device::keeper::parse_ticket(&f.text(field::TICKET)?)?;
            let name = f.text(field::NAME).ok();
            let entry = ticket.clone();
            let (name, added_now) = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::keeper::add_entry(
                        open,
                        identity,
                        &entry,
                        name.as_deref(),
                        entropy,
                        crate::system::now(),
                    )
                })
                .await?;
            let id = app.shared(aid)?.id;
            let handed = app.device.hand_over(&id, &ticket).await;
            let added = crate::device::keeper::handed_over(name, &ticket, added_now, handed)?;
            Reply {
                ok: true,
                message: format!(
                    "The keeper \"{}\" holds the alliance now: everyone's devices sync with it from now on.",
                    added.name
                ),
                ..Reply::default()
            }
        }
        Action::InviteRevoke => {
            let id = f.text(field::ID)?;
            let label = app
                .with_open(aid, LockMode::Exclusive, move |open, _, _| {
                    let id = crate::device::steps::revoke_invite(open, &id)?;
                    Ok(crate::device::steps::invites(open)?
                        .invites
                        .into_iter()
                        .find(|i| i.id == id)
                        .and_then(|i| i.label))
                })
                .await?;
            // Invites are device-local: tell this page's parts ourselves.
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            words(match label {
                Some(label) => {
                    format!("You revoked the invite {label}; its ticket no longer works.")
                }
                None => "You revoked the invite; its ticket no longer works.".to_string(),
            })
        }
        Action::DeviceLink => {
            let valid = crate::device::parse::parse(
                "valid for",
                &f.text(field::EXPIRES)?,
                30 * crate::device::parse::DAY,
            )?;
            let label = f.text(field::LABEL)?;
            let addrs = app.device.info().map(|i| i.addrs).unwrap_or_default();
            let (invite, ticket) = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::create_link(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        &label,
                        valid,
                        &addrs,
                    )
                })
                .await?;
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Reply {
                ok: true,
                message: match &invite.label {
                    Some(label) => format!("You made a link for {label}."),
                    None => "You made a link for another device of yours.".to_string(),
                },
                html: Some(views::link_ticket(&ticket.to_string(), &invite).into_string()),
                ..Reply::default()
            }
        }
        Action::DeviceName => {
            let (device, name) = (f.text(field::DEVICE)?, f.text(field::LABEL)?);
            let kept = app
                .with_open(aid, LockMode::Exclusive, move |open, _, _| {
                    crate::device::steps::name_device(open, device.trim(), &name)
                })
                .await?;
            // Names are device-local: tell this page's parts ourselves.
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            words(match kept {
                Some(name) => format!("This device now calls it {name}."),
                None => "You took its name away.".to_string(),
            })
        }
        Action::DeviceRemove => {
            let device = f.text(field::DEVICE)?;
            let (edited, called) = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    let key = crate::device::steps::device_key(open, &device)?;
                    let called = crate::device::steps::devices(open, None)?
                        .into_iter()
                        .find(|d| d.device == key.to_hex())
                        .map(|d| d.label.unwrap_or_else(|| format!("{}'s device", d.name)))
                        .unwrap_or_else(|| "that device".into());
                    let edited = crate::device::steps::remove_device(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        &key,
                    )?;
                    Ok((edited, called))
                })
                .await?;
            done(
                edited,
                &format!("You removed {called}: it can no longer connect or write, on any device."),
            )
        }
        Action::MemberRemove => {
            let id = f.id(field::ID)?;
            let (_, name) = app
                .read(aid, {
                    let id = id.clone();
                    move |_, c| c.view.name_of(&id)
                })
                .await?;
            let edited = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::remove_member(
                        open,
                        identity,
                        entropy,
                        crate::system::now(),
                        &id,
                    )
                })
                .await?;
            done(
                edited,
                &format!(
                    "You removed {name} from the alliance: their devices can no longer connect or write."
                ),
            )
        }
        Action::Leave => {
            let edited = app
                .with_open(aid, LockMode::Exclusive, move |open, identity, entropy| {
                    crate::device::steps::leave(open, identity, entropy, crate::system::now())
                })
                .await?;
            Reply {
                go: Some(format!("/a/{aid}/")),
                ..done(
                    edited,
                    "You left the alliance. What it holds stays readable on this device.",
                )
            }
        }
        Action::Reminders => {
            // A setting of this computer (the page's file), not of the alliance.
            let on = f.text(field::REMIND)? == "on";
            let home = app.device.home.clone();
            if let Some(mut file) = home.app_file() {
                file.reminders = on;
                home.save_app_file(&file).map_err(DeviceError::from)?;
            }
            app.reminders.set(on);
            if let Ok(s) = app.shared(aid) {
                s.notify();
            }
            Reply {
                ok: true,
                message: if on {
                    "Reminders are on: this computer will tell you when a check-in comes due, a design session is tomorrow, or an expectation waits for you.".into()
                } else {
                    "Reminders are off.".into()
                },
                ..Reply::default()
            }
        }
    })
}

fn rating(f: &Fields) -> Result<i64, PageError> {
    f.text(field::RATING)?
        .trim()
        .parse()
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "choose a rating from 1 to 5"))
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
