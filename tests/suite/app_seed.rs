//! The page in a real headless Chromium: founding from the page with a starting point, each
//! step's questions, "Add to calendar", and a reader who sees everything and is shown no form
//! that writes. (The helpers are the page tests' own: tests/suite/app.rs.)

use crate::app::{App, Driver, alliance_id, click, fill, tools_or_skip, until, until_text, value};
use crate::kit::Device;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn founding_from_the_page_for_a_team_shows_each_steps_questions_and_a_calendar() {
    let Some((chromium, chromedriver)) = tools_or_skip("founding_for_a_team") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::new(21);
    ada.ok(&["init", "--name", "Ada"]);
    let app = App::start(ada.home());
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until(
        &a,
        "the founding form's three starting points",
        "return document.querySelectorAll('input[name=start]').length === 3",
    )
    .await;
    let checked = a
        .execute(
            "return document.querySelector('input[name=start]:checked').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checked, "family", "a family unless chosen otherwise");
    click(&a, "input[name=start][value=team]").await;
    fill(&a, "#new-title", "Designers, apart").await;
    click(&a, "form[action='/create'] button[type=submit]").await;
    until(
        &a,
        "the new alliance's page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    let id = alliance_id(ada.home());
    assert_eq!(
        ada.json(&["prompts"])["start"],
        "team",
        "the choice is in the document"
    );

    // Each step shows its questions, for a team.
    for (slug, step, words) in [
        ("needs", 1, "How many meetings, messages and interruptions"),
        ("plan", 2, "across its time zones"),
        ("vision", 3, "at its best, working apart"),
        ("expectations", 3, "everyone's hours and homes"),
        ("checkins", 4, "What is working in how we work apart?"),
    ] {
        a.goto(&app.page(&id, slug)).await.unwrap();
        until_text(&a, "aside.prompts", words).await;
        let shown = a
            .execute(
                "const p = document.querySelector('aside.prompts'); return [p.dataset.start, p.dataset.step, p.querySelectorAll('li').length, p.querySelectorAll('.examples q').length]",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shown[0], "team", "{slug}");
        assert_eq!(shown[1], step.to_string(), "{slug}");
        assert!(
            shown[2].as_u64().unwrap() >= 2 && shown[3].as_u64().unwrap() >= 2,
            "{slug}: {shown}"
        );
    }
    // The overview and the people page ask nothing.
    a.goto(&app.page(&id, "people")).await.unwrap();
    until_text(&a, "h1", "People").await;
    let none = a
        .execute(
            "return document.querySelectorAll('aside.prompts').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(none, 0);

    // "Add to calendar": a session planned on the page is in the file it downloads.
    a.goto(&app.page(&id, "plan")).await.unwrap();
    fill(&a, "#plan-when", "2026-12-12 19:00").await;
    fill(&a, "#plan-how", "a call, cameras optional").await;
    click(&a, "form[action$='/do/plan-add'] button[type=submit]").await;
    until_text(&a, "main", "a call, cameras optional").await;
    let link = a
        .execute(
            "const l = document.querySelector('#calendar-link'); return [l.textContent, l.getAttribute('download'), l.href]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(link[0], "Add to calendar");
    assert_eq!(link[1], "alliance.ics");
    let ics = until(
        &a,
        "the calendar file",
        "return fetch(document.querySelector('#calendar-link').href).then(r => r.ok && r.headers.get('content-type').startsWith('text/calendar') ? r.text() : '')",
    )
    .await;
    let ics = ics.as_str().unwrap().to_string();
    let cal = ical::IcalParser::new(ics.as_bytes())
        .next()
        .expect("a calendar")
        .expect("it parses");
    assert_eq!(cal.events.len(), 1, "{ics}");
    let start = cal.events[0]
        .properties
        .iter()
        .find(|p| p.name == "DTSTART")
        .and_then(|p| p.value.clone());
    assert_eq!(start.as_deref(), Some("20261212T190000"), "{ics}");
    // The same file as the command writes (but for its DTSTAMP, the time of export).
    let cli = ada.ok(&["export", "--format", "ics"]);
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("DTSTAMP"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(&ics), strip(&cli));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_everything_on_the_page_and_no_form_that_writes() {
    let Some((chromium, chromedriver)) = tools_or_skip("a_reader_on_the_page") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(22, "Ada", "The Okafor family", "parent");
    ada.ok(&["need", "add", "quiet mornings"]);
    ada.ok(&["vision", "set", "We listen first."]);
    ada.add(&["expect", "add", "screens off at dinner"]);
    let ada_app = App::start(ada.home());
    let a = driver.browser().await;
    let id = alliance_id(ada.home());
    a.goto(&ada_app.url).await.unwrap();
    until(
        &a,
        "Ada's page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;

    // Ada invites Gran as a reader from the page.
    a.goto(&ada_app.page(&id, "people")).await.unwrap();
    fill(&a, "#invite-role", "grandparent").await;
    click(&a, "#invite-reader").await;
    click(&a, "form[action$='/do/invite'] button[type=submit]").await;
    until(
        &a,
        "the ticket",
        "return !!document.querySelector('#ticket-line')",
    )
    .await;
    let ticket = value(&a, "#ticket-line").await;
    let gran = Device::new(23);
    gran.json(&["join", &ticket, "--name", "Gran"]);
    until_text(&a, "main", "Gran · grandparent · reader").await;

    // Gran's page: everything is there to read, and nothing to fill in.
    let gran_app = App::start(gran.home());
    let g = driver.browser().await;
    g.goto(&gran_app.url).await.unwrap();
    until(
        &g,
        "Gran's page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    for (slug, shown) in [
        ("", "Hello, Gran"),
        ("needs", "quiet mornings"),
        ("plan", ""),
        ("vision", "We listen first."),
        ("expectations", "screens off at dinner"),
        ("checkins", ""),
        ("people", "Ada"),
    ] {
        g.goto(&gran_app.page(&id, slug)).await.unwrap();
        until_text(&g, ".reader-note", "you see everything").await;
        until_text(&g, "main", shown).await;
        // (Marking as read, reminders and the names this device gives devices are this
        // computer's own, not the alliance's.)
        let writes = g
            .execute(
                "return [...document.querySelectorAll('form')].map(f => f.getAttribute('action')).filter(a => !a.endsWith('/do/seen') && !a.endsWith('/do/reminders') && !a.endsWith('/do/device-name'))",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            writes,
            serde_json::json!([]),
            "/{slug}: no form that writes"
        );
        let editor = g
            .execute("return !!document.querySelector('textarea#vision')", vec![])
            .await
            .unwrap();
        assert_eq!(editor, false, "/{slug}: no vision editor");
    }
    let note = g
        .execute(
            "return document.querySelector('.reader-note').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(note.as_str().unwrap().contains("ask Ada"), "{note}");
    // The page's door refuses a write sent by hand too (the device's own rule), in words.
    let refused = g
        .execute(
            &format!(
                "return fetch('/a/{id}/vision/splice', {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-Alliance-CSRF': document.querySelector('meta[name=alliance-csrf]').content}}, body: JSON.stringify({{base: document.querySelector('#page-heads').dataset.heads.split(','), splices: [{{pos: 0, delete: 0, insert: 'Gran decides. '}}]}})}}).then(async r => [r.status, await r.text()])"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(refused[0], 200, "{refused}");
    assert!(
        refused[1]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("you are a reader here"),
        "{refused}"
    );
    assert!(!ada.ok(&["vision", "show"]).contains("Gran decides"));
}
