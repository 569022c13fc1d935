"""What the manager's e-mails and page say, in the organisation's language (sv, en).

Kept beside the page rather than in the agenda catalogue: these texts go to the
manager alone, never into the shared invitation."""

from __future__ import annotations

from collections.abc import Mapping

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "booked_subject": "Coaching sessions booked: {count} ({month})",
        "booked_intro": (
            "Coachpass booked these coaching sessions in your calendar. After each "
            "session, record how it went here (the link is yours alone: do not forward "
            "it): held or no-show, a short note and the follow-ups for the next agenda."
        ),
        "booked_intro_no_link": (
            "Coachpass booked these coaching sessions in your calendar. After each "
            "session, record how it went: held or no-show, a short note and the "
            "follow-ups for the next agenda."
        ),
        "reminder_subject": "How did it go? {count} {sessions} to record",
        "session_one": "coaching session",
        "session_many": "coaching sessions",
        "reminder_intro": (
            "These coaching sessions have ended and nothing is recorded yet. Record how "
            "each went (held or no-show, a note and follow-ups) through its link:"
        ),
        "reminder_intro_no_link": (
            "These coaching sessions have ended and nothing is recorded yet. Record how "
            "each went: held or no-show, a note and follow-ups."
        ),
        "no_link": (
            "The manager's page is not enabled, so these sessions have no personal "
            "link: tell your Coachpass admin how each went (they record it with "
            "`coachpass sessions mark`), or ask them to enable the page with a `web:` "
            "block in the configuration."
        ),
        "footer": "Sent by Coachpass to you only. Your sellers do not get this e-mail.",
        "page_title": "Coaching session",
        "seller": "Seller",
        "when": "When",
        "status": "Status",
        "note": "Note",
        "followups": "Follow-ups for the next session",
        "followup_n": "Follow-up {n}",
        "held": "Held",
        "no_show": "No-show",
        "save": "Save",
        "record": "How did it go?",
        "not_yet": "You can record how it went once the session has begun.",
        "new_time": "Ask for a new time",
        "new_time_help": (
            "Coachpass cancels this session (the seller is told) and books a new time "
            "this month if there is room; you get an e-mail with the new session's link."
        ),
        "new_time_pending": (
            "You asked for a new time. Coachpass is cancelling this session and looking "
            "for a new slot; reload this page in a minute."
        ),
        "new_time_done": "Done: {detail}",
        "new_time_failed": "Could not be done: {detail}. Ask your Coachpass admin.",
        "saved": (
            "Saved. Thank you: the follow-ups go into the agenda of the next session "
            "when Coachpass books it."
        ),
        "saved_only": "Saved. Thank you.",
        "next_booked": (
            "{seller}'s next session, {when}, is booked already: its invitation went out "
            "before these follow-ups, so its agenda does not hold them. Bring them up "
            "in that session."
        ),
        "requested": "Your request is recorded.",
        "forbidden": (
            "This link is not valid: it may have expired, been changed, or belong to "
            "another session. Use the latest link Coachpass e-mailed you."
        ),
        "closed": "This session is {state}: nothing more to record here.",
        "source_verified": "verified by the meeting provider",
        "source_manager": "marked by the manager",
        "source_presumed": "presumed",
        "state_planned": "Being booked",
        "state_booked": "Booked",
        "state_rescheduled": "Booked (moved)",
        "state_cancelled": "Cancelled",
        "state_declined": "Declined by the seller",
        "state_unbookable": "Could not be booked",
        "form_expired": (
            "This form has expired or did not come from your page: open your link again "
            "and resend it. Nothing was changed."
        ),
        "unavailable": "Coachpass cannot reach its database just now: try again in a minute.",
    },
    "sv": {
        "booked_subject": "Coachningssessioner bokade: {count} ({month})",
        "booked_intro": (
            "Coachpass har bokat de här coachningssessionerna i din kalender. Efter "
            "varje session noterar du här hur den gick (länken är bara din: skicka inte "
            "vidare den): genomförd eller uteblev, en kort anteckning och "
            "uppföljningspunkterna till nästa agenda."
        ),
        "booked_intro_no_link": (
            "Coachpass har bokat de här coachningssessionerna i din kalender. Efter "
            "varje session noterar du hur den gick: genomförd eller uteblev, en kort "
            "anteckning och uppföljningspunkterna till nästa agenda."
        ),
        "reminder_subject": "Hur gick det? {count} {sessions} att notera",
        "session_one": "coachningssession",
        "session_many": "coachningssessioner",
        "reminder_intro": (
            "De här coachningssessionerna är avslutade och inget är noterat ännu. Notera "
            "hur var och en gick (genomförd eller uteblev, anteckning och "
            "uppföljningspunkter) via dess länk:"
        ),
        "reminder_intro_no_link": (
            "De här coachningssessionerna är avslutade och inget är noterat ännu. Notera "
            "hur var och en gick: genomförd eller uteblev, anteckning och "
            "uppföljningspunkter."
        ),
        "no_link": (
            "Chefssidan är inte påslagen, så sessionerna har ingen personlig länk: "
            "berätta för din Coachpass-admin hur var och en gick (hen noterar det med "
            "`coachpass sessions mark`), eller be hen slå på sidan med ett `web:`-block "
            "i konfigurationen."
        ),
        "footer": "Skickat av Coachpass till dig. Dina säljare får inte det här mejlet.",
        "page_title": "Coachningssession",
        "seller": "Säljare",
        "when": "När",
        "status": "Status",
        "note": "Anteckning",
        "followups": "Uppföljningspunkter till nästa session",
        "followup_n": "Uppföljning {n}",
        "held": "Genomförd",
        "no_show": "Uteblev",
        "save": "Spara",
        "record": "Hur gick det?",
        "not_yet": "Du kan notera hur det gick när sessionen har börjat.",
        "new_time": "Be om en ny tid",
        "new_time_help": (
            "Coachpass ställer in den här sessionen (säljaren får besked) och bokar en "
            "ny tid i månaden om det finns plats; du får ett mejl med den nya länken."
        ),
        "new_time_pending": (
            "Du har bett om en ny tid. Coachpass ställer in sessionen och letar efter en "
            "ny tid; ladda om sidan om en minut."
        ),
        "new_time_done": "Klart: {detail}",
        "new_time_failed": "Gick inte: {detail}. Fråga din Coachpass-admin.",
        "saved": (
            "Sparat. Tack: uppföljningspunkterna kommer med i agendan för nästa "
            "session när Coachpass bokar den."
        ),
        "saved_only": "Sparat. Tack.",
        "next_booked": (
            "Nästa session med {seller}, {when}, är redan bokad: inbjudan gick ut före "
            "de här uppföljningspunkterna, så dess agenda saknar dem. Ta upp dem på den "
            "sessionen."
        ),
        "requested": "Din begäran är noterad.",
        "forbidden": (
            "Länken gäller inte: den kan ha gått ut, ändrats eller höra till en annan "
            "session. Använd den senaste länken Coachpass mejlade dig."
        ),
        "closed": "Sessionen är {state}: inget mer att notera här.",
        "source_verified": "verifierat av mötestjänsten",
        "source_manager": "markerat av chefen",
        "source_presumed": "antaget",
        "state_planned": "Bokas",
        "state_booked": "Bokad",
        "state_rescheduled": "Bokad (flyttad)",
        "state_cancelled": "Inställd",
        "state_declined": "Avböjd av säljaren",
        "state_unbookable": "Kunde inte bokas",
        "form_expired": (
            "Formuläret har gått ut eller kom inte från din sida: öppna länken igen och "
            "skicka på nytt. Inget ändrades."
        ),
        "unavailable": "Coachpass når inte sin databas just nu: försök igen om en minut.",
    },
}


def texts(language: str) -> Mapping[str, str]:
    return TEXTS.get(language, TEXTS["en"])
