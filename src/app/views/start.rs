//! A device without an alliance: its person's name first, then founding an alliance or joining
//! one with a ticket; or picking one of several.

use maud::{Markup, html};

use super::pieces::{form, layout};
use crate::app::forms::{FirstRun, field};
use crate::core::seed::Start;

/// First run: this device has no identity yet.
pub fn setup(csrf: &str) -> Markup {
    layout(
        "Welcome",
        csrf,
        None,
        "Welcome",
        html! {
            p.lead { "This page is served by your own device. First, your name as the others will see it." }
            (form(FirstRun::Setup.path(), "Continue", html! {
                label for="setup-name" { "Your name" }
                input #setup-name name=(field::NAME) type="text" autocomplete="name" required;
            }))
            p { "Already invited? " a href="/start" { "Join with a ticket" } " (you can type your name there)." }
        },
    )
}

/// Create an alliance or join one; or pick one of several (`alliances`: ID and title).
pub fn start(csrf: &str, alliances: &[(String, String)], named: bool) -> Markup {
    layout(
        "Our alliance",
        csrf,
        None,
        if alliances.is_empty() {
            "Start"
        } else {
            "Your alliances"
        },
        html! {
            @if !alliances.is_empty() {
                ul.cards { @for (id, title) in alliances { li { a href={"/a/" (id) "/"} { (title) } } } }
            }
            h2 { "Start a new alliance" }
            @if named {
                (form(FirstRun::Create.path(), "Create it", html! {
                    label for="new-title" { "Its title" }
                    input #new-title name=(field::TITLE) type="text" placeholder="The Okafor family" required;
                    label for="new-role" { "Your role in it" }
                    input #new-role name=(field::ROLE) type="text" value="member" required;
                    fieldset.start {
                        legend { "Who is it for? (it sets the questions each step asks)" }
                        @for s in Start::ALL {
                            label { input type="radio" name=(field::START) value=(s.as_str()) checked[s == Start::Family]; " " (s.label()) }
                        }
                    }
                }))
            } @else {
                p { a href="/" { "Tell us your name first" } "." }
            }
            h2 { "Join with a ticket" }
            (form(FirstRun::Join.path(), "Join", html! {
                label for="join-ticket" { "The ticket you were given (one line starting with “alliance”)" }
                textarea #join-ticket name=(field::TICKET) rows="3" required {}
                @if !named {
                    label for="join-name" { "Your name" }
                    input #join-name name=(field::NAME) type="text" required;
                }
            }))
        },
    )
}
