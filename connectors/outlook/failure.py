"""A failed Graph request as a `Result` naming the session, mailbox and fix."""

from __future__ import annotations

from connectors.base import AuthError, EventChange, NewEvent, Outcome, Result
from connectors.outlook.http import Answer


def failed(event: NewEvent | EventChange, what: str, answer: Answer) -> Result:
    """A failed request as a Result; a refused token stops the whole call."""
    if answer.status == 401:
        raise AuthError(
            f"Microsoft Graph refused the app's token for {event.organizer.calendar_id} "
            f"({answer.error_text()}): check the app's permissions and admin consent"
        )
    if answer.status in (403, 404):
        # One mailbox out of reach must not stop the others' bookings.
        return Result(
            event.key,
            Outcome.FAILED,
            error=f"{what} of session {event.key}: mailbox {event.organizer.calendar_id} "
            f"is not reachable for the app ({answer.error_text()}): check the address, "
            "the Calendars.ReadWrite permission and the app's Exchange RBAC scope",
        )
    retryable = answer.lost or answer.status >= 500 or answer.status in (424, 429)
    return Result(
        event.key,
        Outcome.FAILED,
        error=f"{what} of session {event.key} in {event.organizer.calendar_id}: "
        f"{answer.error_text()}",
        retryable=retryable,
    )
