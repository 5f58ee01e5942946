//! The family's page as a family uses it (issue 28): everything from the page (linking, naming
//! and removing a device, leaving), keyboard use with the focus returned after each form, times
//! in the reader's own time zone, and no raw ID or key anywhere a person reads or hears. Real
//! binary, real nodes on 127.0.0.1, headless Chromium over WebDriver (the helpers of
//! `app.rs`).

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::app::{
    App, Driver, alliance_id, click, devtools, fill, shoot_at, tools_or_skip, until, until_text,
};
use crate::kit::Device;

/// The element that has the focus: its tag, id and the id of the nearest item around it.
async fn focused(c: &Client) -> (String, String, String) {
    let v = c
        .execute(
            "const a = document.activeElement; const item = a && a.closest('[id^=item-]'); \
             return [a ? a.tagName : '', a ? a.id : '', item ? item.id : ''];",
            vec![],
        )
        .await
        .unwrap();
    let s = |i: usize| v[i].as_str().unwrap_or_default().to_string();
    (s(0), s(1), s(2))
}

/// Presses keys (Tab, Enter: WebDriver's codes) as a keyboard would, on whatever has the focus.
async fn press(c: &Client, keys: &[char]) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".to_string());
    for k in keys {
        actions = actions
            .then(KeyAction::Down { value: *k })
            .then(KeyAction::Up { value: *k });
    }
    c.perform_actions(actions).await.unwrap();
}

const TAB: char = '\u{E004}';
const ENTER: char = '\u{E007}';

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_linked_named_and_removed_from_the_page_with_confirmation() {
    let Some((chromium, chromedriver)) = tools_or_skip("a_device_is_linked_named_and_removed")
    else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until_text(&a, "main", "Hello, Ada").await;
    a.goto(&app.page(&id, "people")).await.unwrap();

    // Ada makes a link for her phone on the page: the ticket line and its QR code.
    fill(&a, "#link-label", "Ada's phone").await;
    click(&a, "form[action$='/do/device-link'] button[type=submit]").await;
    until_text(
        &a,
        "form[action$='/do/device-link'] .result",
        "You made a link for Ada's phone",
    )
    .await;
    until(
        &a,
        "the QR code",
        "return !!document.querySelector('.answer .qr svg')",
    )
    .await;
    let ticket = until(
        &a,
        "the ticket",
        "const t = document.querySelector('.answer #ticket-line'); return t && t.value",
    )
    .await
    .as_str()
    .unwrap()
    .trim()
    .to_string();
    shoot_at(&a, "link", Some(".answer")).await;

    // The phone joins with it (the command line here; the page's join is the same call).
    let phone = Device::new(2);
    phone.ok(&["join", &ticket]);
    assert_eq!(phone.json(&["whoami"])["name"], "Ada");
    let phone_key = phone.device_key();

    // Ada's page lists it by the name she gave the link, and the link as used by Ada.
    until_text(&a, "[data-part=devices]", "Ada's phone").await;
    until_text(&a, "[data-part=invites]", "A link for Ada's phone").await;
    until_text(&a, "[data-part=invites]", "used by Ada").await;

    // She renames it (on this device only).
    let card = format!("[data-part=devices] li:has(input[value='{phone_key}'])");
    click(&a, &format!("{card} details:not(.danger) summary")).await;
    fill(&a, &format!("{card} input[name=label]"), "Ada's old phone").await;
    click(
        &a,
        &format!("{card} form[action$='/do/device-name'] button[type=submit]"),
    )
    .await;
    until_text(&a, "[data-part=devices]", "Ada's old phone").await;

    // Removing it without the confirming button is refused and changes nothing.
    let refused = a
        .execute(
            &format!(
                "return fetch('/a/{id}/do/device-remove', {{method: 'POST', headers: {{'X-Alliance-CSRF': document.querySelector('meta[name=alliance-csrf]').content, 'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'device={phone_key}'}}).then((r) => r.status)"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, 400);
    assert!(
        ada.json(&["device", "list"])
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["removed_at"].is_null()),
        "nothing removed without confirmation"
    );

    // The removal asks first, in words, then removes it on the button that names it.
    let card = "[data-part=devices] li:has(details.danger)";
    click(&a, &format!("{card} details.danger summary")).await;
    until_text(
        &a,
        &format!("{card} details.danger"),
        "This cannot be undone",
    )
    .await;
    shoot_at(&a, "remove-device", Some("[data-part=devices]")).await;
    click(&a, "button[aria-label=\"Yes, remove Ada's old phone\"]").await;
    until_text(&a, "#flash", "You removed Ada's old phone").await;
    until_text(&a, "[data-part=devices]", "removed by Ada on").await;
    let removed = ada.json(&["device", "list"]);
    let row = removed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == phone_key.as_str())
        .unwrap()
        .clone();
    assert!(!row["removed_at"].is_null(), "{row}");
    assert_eq!(row["removed_by"], "Ada");
    a.close().await.unwrap();
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only_a_second_need_and_an_agreement_with_the_focus_returned() {
    let Some((chromium, chromedriver)) = tools_or_skip("keyboard_only_a_second_need") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let id = alliance_id(ada.home());
    let e = ada.add(&["expect", "add", "Phones off at dinner", "--of", "Ada"]);
    let app = App::start(ada.home());
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until_text(&a, "main", "Hello, Ada").await;
    a.goto(&app.page(&id, "needs")).await.unwrap();
    until(
        &a,
        "the page",
        "return !!document.querySelector('#need-text')",
    )
    .await;

    // Into the need's field, type, Tab to the button, Enter: the focus comes back to the
    // field, emptied, so the second need is typed straight away.
    a.find(Locator::Css("#need-text"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    crate::app::type_keys(&a, "More sleep").await;
    press(&a, &[TAB, ENTER]).await;
    until_text(&a, "[data-part=needs]", "More sleep").await;
    until(&a, "the focus back in the need's field", "return document.activeElement && document.activeElement.id === 'need-text' && document.activeElement.value === ''").await;
    crate::app::type_keys(&a, "Quiet mornings").await;
    press(&a, &[TAB, ENTER]).await;
    until_text(&a, "[data-part=needs]", "Quiet mornings").await;
    until(
        &a,
        "the focus back again",
        "return document.activeElement && document.activeElement.id === 'need-text'",
    )
    .await;

    // Rewording a need (a form inside the live part, redrawn with it) by keyboard: the
    // banner says what happened and the focus comes back to the need's card.
    a.execute(
        "const d = document.querySelector('[data-part=needs] li details'); d.open = true; \
         const t = d.querySelector('textarea'); t.focus(); t.select(); return 1",
        vec![],
    )
    .await
    .unwrap();
    crate::app::type_keys(&a, "More sleep, please").await;
    press(&a, &[TAB, ENTER]).await;
    until_text(&a, "[data-part=needs]", "More sleep, please").await;
    until_text(&a, "#flash", "You reworded your need").await;
    until(
        &a,
        "the focus back in the need's card",
        "const a = document.activeElement; return !!a && !!a.closest('[id^=item-]')",
    )
    .await;
    let mut saved = ada.needs();
    saved.sort();
    assert_eq!(saved, ["More sleep, please", "Quiet mornings"]);
    // In the order they were written.
    let order = a
        .execute(
            "const t = document.querySelector('[data-part=needs]').textContent; return t.indexOf('More sleep, please') < t.indexOf('Quiet mornings')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(order, true);

    // Agreeing by keyboard: the focus stays on the expectation's card after it is redrawn.
    a.goto(&app.page(&id, "expectations")).await.unwrap();
    until(&a, "the agree button", "return !!document.querySelector('[data-part=expectations] form[action$=\"/do/expect-agree\"] button')").await;
    a.execute(
        "document.querySelector('[data-part=expectations] form[action$=\"/do/expect-agree\"] button').focus(); return 1",
        vec![],
    )
    .await
    .unwrap();
    press(&a, &[ENTER]).await;
    until_text(&a, "[data-part=expectations] .agreed-by", "Ada").await;
    until_text(&a, "#flash", "You agreed to: “Phones off at dinner”.").await;
    let card = format!("item-{e}");
    let deadline = std::time::Instant::now() + crate::app::WAIT;
    loop {
        let (_, _, item) = focused(&a).await;
        if item == card {
            break;
        }
        let log = a
            .execute("return JSON.stringify(window.__focusLog)", vec![])
            .await
            .unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "the focus did not come back to the expectation's card (it is in {item:?}) {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.close().await.unwrap();
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_on_the_page_are_in_the_readers_own_time_zone() {
    let Some((chromium, chromedriver)) = tools_or_skip("times_on_the_page") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    // Every change of the kit is made at 2026-11-24 10:00 UTC: 15:30 in Kolkata (UTC+5:30).
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let id = alliance_id(ada.home());
    let need = ada.add(&["need", "add", "More sleep"]);
    let app = App::start(ada.home());
    let a = driver.browser().await;
    devtools(
        &driver,
        &a,
        "Emulation.setTimezoneOverride",
        serde_json::json!({ "timezoneId": "Asia/Kolkata" }),
    )
    .await;
    devtools(
        &driver,
        &a,
        "Emulation.setLocaleOverride",
        serde_json::json!({ "locale": "en-US" }),
    )
    .await;
    a.goto(&app.url).await.unwrap();
    until_text(&a, "main", "Hello, Ada").await;
    a.goto(&app.page(&id, &format!("history/{need}")))
        .await
        .unwrap();
    until_text(&a, "ol.history time", "3:30").await;
    let shown = a
        .execute(
            "return document.querySelector('ol.history time').textContent",
            vec![],
        )
        .await
        .unwrap();
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("Nov 24, 2026") && shown.contains("3:30 PM"),
        "{shown}"
    );
    assert!(
        !shown.contains("UTC") && !shown.contains("10:00"),
        "{shown}"
    );
    // The machine-readable instant stays exact.
    let at = a
        .execute(
            "return document.querySelector('ol.history time').getAttribute('datetime')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(at, "2026-11-24T10:00:00Z");

    // A calendar day (a check-in's date) is that day wherever the reader is: west of UTC it
    // must not become the day before (midnight UTC is still the 23rd in Los Angeles).
    ada.ok(&["checkin", "add", "--rating", "4", "--date", "2026-11-24"]);
    devtools(
        &driver,
        &a,
        "Emulation.setTimezoneOverride",
        serde_json::json!({ "timezoneId": "America/Los_Angeles" }),
    )
    .await;
    a.goto(&app.page(&id, "checkins")).await.unwrap();
    until_text(&a, "[data-part=checkins] li strong time", "Nov 24, 2026").await;
    a.close().await.unwrap();
    app.stop();
}

/// Every page of the alliance a family reads, by path.
fn pages(id: &str, items: &[String]) -> Vec<String> {
    let mut p: Vec<String> = [
        "",
        "needs",
        "plan",
        "vision",
        "expectations",
        "checkins",
        "people",
    ]
    .iter()
    .map(|s| format!("/a/{id}/{s}"))
    .collect();
    p.extend(items.iter().map(|i| format!("/a/{id}/history/{i}")));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_shows_an_item_id_or_a_device_key_to_read_or_to_hear() {
    let Some((chromium, chromedriver)) = tools_or_skip("no_page_shows_an_item_id") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let cy = Device::new(3);
    cy.ok(&["init", "--name", "Cy"]);
    let ben_m = ada.add(&[
        "member",
        "add",
        "Ben",
        "--role",
        "teen",
        "--device",
        &ben.device_key(),
    ]);
    let cy_m = ada.add(&["member", "add", "Cy", "--device", &cy.device_key()]);
    ada.ok(&["member", "remove", "Cy", "--yes"]);
    let items = vec![
        ada.json(&["member", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "Ada")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string(),
        ben_m,
        cy_m,
        ada.add(&["need", "add", "More sleep"]),
        ada.add(&["plan", "add", "--when", "Sunday 7pm", "--how", "at home"]),
        ada.add(&["expect", "add", "Phones off at dinner"]),
        ada.add(&[
            "checkin",
            "add",
            "--rating",
            "4",
            "--reflection",
            "calmer",
            "--next",
            "1m",
        ]),
    ];
    ada.ok(&["vision", "set", "We show up for each other."]);
    ada.ok(&["seen"]);
    ada.ok(&["need", "add", "A walk on Sundays"]);
    let keys: Vec<String> = [ada.device_key(), ben.device_key(), cy.device_key()]
        .into_iter()
        .collect();
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until_text(&a, "main", "Hello, Ada").await;
    // An invite with a label, so the invites list has one.
    a.goto(&app.page(&id, "people")).await.unwrap();
    fill(&a, "#invite-label", "for Zoe").await;
    click(&a, "form[action$='/do/invite'] button[type=submit]").await;
    until_text(&a, "[data-part=invites]", "An invite for Zoe").await;

    for path in pages(&id, &items) {
        a.goto(&format!("http://127.0.0.1:{}{path}", app.port))
            .await
            .unwrap();
        until(
            &a,
            "the page",
            "return document.readyState === 'complete' && !!document.querySelector('main h1')",
        )
        .await;
        // What a person reads, and what a screen reader says (labels and titles).
        let said = a
            .execute(
                "const out = [document.title, document.body.innerText]; \
                 for (const e of document.querySelectorAll('[aria-label], [title], [alt]')) \
                   out.push(e.getAttribute('aria-label') || '', e.getAttribute('title') || '', e.getAttribute('alt') || ''); \
                 for (const e of document.querySelectorAll('details')) e.open = true; \
                 out.push(document.body.innerText); \
                 return out.join('\\n');",
                vec![],
            )
            .await
            .unwrap();
        let said = said.as_str().unwrap().to_string();
        for item in &items {
            assert!(
                !said
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == item),
                "{path} shows the ID {item}:\n{said}"
            );
        }
        for key in &keys {
            assert!(
                !said.contains(&key[..8]),
                "{path} shows a device key:\n{said}"
            );
        }
        assert!(
            !said.contains(&id[..16]),
            "{path} shows the alliance's ID:\n{said}"
        );
        assert!(!said.contains("(s)"), "{path} has a (s) plural:\n{said}");
        assert!(
            !said.contains("`alliance") && !said.contains("alliance join"),
            "{path} tells a command:\n{said}"
        );
        assert!(
            !said.contains("created_by") && !said.contains("_at"),
            "{path} has a field's code name:\n{said}"
        );
    }
    a.close().await.unwrap();
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_is_not_an_admin_is_told_whom_to_ask_and_can_leave_from_the_page() {
    let Some((chromium, chromedriver)) = tools_or_skip("a_member_who_is_not_an_admin") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    ada.ok(&[
        "member",
        "add",
        "Ben",
        "--role",
        "teen",
        "--device",
        &ben.device_key(),
    ]);
    // Ben's device receives the alliance as a bundle (no network needed here).
    let bundle = ada.dir.path().join("all.bundle");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ben.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    let id = alliance_id(ben.home());
    let app = App::start(ben.home());
    let b = driver.browser().await;
    b.goto(&app.url).await.unwrap();
    until_text(&b, "main", "Hello, Ben").await;
    b.goto(&app.page(&id, "people")).await.unwrap();
    // No invite form he could not use: whom to ask instead; linking his own device stays.
    until_text(&b, "main", "ask Ada to invite them").await;
    let forms = b
        .execute(
            "return [!!document.querySelector('form[action$=\"/do/invite\"]'), !!document.querySelector('form[action$=\"/do/device-link\"]')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(forms, serde_json::json!([false, true]));

    // Leaving asks first; then every page says this device is out, and why.
    click(&b, "[data-part=members] details.danger summary").await;
    until_text(
        &b,
        "[data-part=members] details.danger",
        "This cannot be undone",
    )
    .await;
    click(&b, "button[aria-label='Yes, leave the alliance']").await;
    until_text(&b, "main", "This device is no longer in").await;
    until_text(&b, "main", "you left it on").await;
    until_text(&b, "main", "Nothing written here goes to anyone").await;
    let members = ben.json(&["member", "list"]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"] != "Ben"),
        "Ben is no longer a current member on his own device: {members}"
    );
    b.close().await.unwrap();
    app.stop();
}

#[test]
fn a_reschedule_over_a_change_made_meanwhile_says_who_changed_it_and_saves_nothing() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let plan = ada.add(&["plan", "add", "--when", "Sunday 7pm", "--how", "at home"]);
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let port = app.port;
    let session = crate::app::log_in(&app);
    let (_, csrf, _) = crate::app::open_page(port, &id, &session);
    // The form was drawn at "Sunday 7pm"; meanwhile the time changed to "Monday 6pm".
    ada.ok(&["plan", "edit", &plan, "--when", "Monday 6pm"]);
    let before = crate::app::heads(ada.home());
    let send = |body: &str| {
        crate::kit::http(
            port,
            &crate::app::req(
                "POST",
                &format!("/a/{id}/do/plan-edit"),
                &format!("127.0.0.1:{port}"),
                &[
                    format!("Cookie: alliance_session={session}"),
                    format!("Origin: http://127.0.0.1:{port}"),
                    format!("X-Alliance-CSRF: {csrf}"),
                ],
                body,
            ),
        )
    };
    let (s, _, answer) = send(&format!(
        "id={plan}&was-when=Sunday+7pm&was-how=at+home&when=Saturday+10am&how=at+home&agenda="
    ));
    assert_eq!(s, 409, "{answer}");
    assert!(
        answer.contains("Ada changed the time a moment ago, from “Sunday 7pm” to “Monday 6pm”"),
        "{answer}"
    );
    assert_eq!(crate::app::heads(ada.home()), before, "nothing was saved");
    // Drawn at the time as it is now, the same reschedule goes through.
    let (s, _, answer) = send(&format!(
        "id={plan}&was-when=Monday+6pm&was-how=at+home&when=Saturday+10am&how=at+home&agenda="
    ));
    assert_eq!(s, 200, "{answer}");
    assert_eq!(ada.json(&["plan", "list"])[0]["when"], "Saturday 10am");
    app.stop();
}
