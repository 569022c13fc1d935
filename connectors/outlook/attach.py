"""Putting the agenda files on events: each file exactly once, or a clear failure.

Graph gives a file attachment no idempotency key: an upload whose answer was lost
(connection reset, timeout, 5xx) may or may not have been stored, and resending it
blindly is how an invitation ends up with the agenda twice. So an upload is never
resent as it is; instead the event's attachments are listed (names only) and only
the files not there yet are sent again. The same listing is made first for an event
found from an earlier run that already has attachments.

Requests: none beyond the uploads in the usual case (a new event has no files); one
listing per event whose upload failed or that was found with files already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from connectors.base import Attachment, NewEvent, Outcome, Result
from connectors.outlook.events import attachment_body, user_path
from connectors.outlook.failure import failed
from connectors.outlook.http import Answer, GraphHttp, Part

Run = Callable[[Sequence[Part]], dict[str, Answer]]


class Target(Protocol):
    """An event of ours that exists (create's `_Made`)."""

    @property
    def event(self) -> NewEvent: ...

    @property
    def item(self) -> Mapping[str, Any]: ...

    @property
    def event_id(self) -> str: ...


def _retryable(answer: Answer) -> bool:
    return answer.lost or answer.status >= 500 or answer.status in (424, 429)


class Uploader:
    def __init__(self, graph: GraphHttp, run: Run) -> None:
        self.graph = graph
        self._run = run

    def attach(
        self, targets: Sequence[tuple[Target, Sequence[Attachment]]]
    ) -> tuple[set[str], dict[str, Result]]:
        """Upload each target's missing files. Returns the keys that got a file now,
        and a failed Result for each key whose files are not all on its event."""
        wanted = {t.event.key: (t, files) for t, files in targets if files}
        names: dict[str, set[str]] = {}
        failures: dict[str, Result] = {}
        added: set[str] = set()
        # A new event has no files; one found from an earlier run may have some.
        unsure = [k for k, (t, _f) in wanted.items() if t.item.get("hasAttachments")]
        for attempt in range(self.graph.max_attempts):
            if unsure:
                listed, broken = self._list([wanted[k][0] for k in unsure])
                names.update(listed)
                for key, answer in broken.items():
                    failures[key] = failed(wanted[key][0].event, "listing the attachments", answer)
            parts: list[tuple[str, Attachment, Part]] = []
            for key, (target, files) in wanted.items():
                if key in failures:
                    continue
                have = names.setdefault(key, set())
                for n, att in enumerate(files):
                    if att.filename not in have:
                        parts.append((key, att, self._part(target, n, att)))
            if not parts:
                break
            answers = self._run([p for _k, _a, p in parts])
            unsure = []
            for key, att, part in parts:
                answer = answers[part.id]
                if answer.ok:
                    names[key].add(att.filename)
                    added.add(key)
                elif _retryable(answer) and attempt + 1 < self.graph.max_attempts:
                    if key not in unsure:
                        unsure.append(key)  # stored or not: look before sending again
                else:
                    failures[key] = failed(
                        wanted[key][0].event, "attaching the agenda file", answer
                    )
            if unsure:
                self.graph.sleep(self.graph.delay(attempt, [answers[p.id] for _k, _a, p in parts]))
        for key, (target, files) in wanted.items():
            if key not in failures and not {a.filename for a in files} <= names.get(key, set()):
                failures[key] = Result(  # attempts ran out between upload and listing
                    key,
                    Outcome.FAILED,
                    error=f"attaching the agenda file of session {key} in "
                    f"{target.event.organizer.calendar_id} did not finish; the next run does",
                    retryable=True,
                )
        return added, failures

    @staticmethod
    def _part(target: Target, n: int, att: Attachment) -> Part:
        box = target.event.organizer.calendar_id
        url = f"{user_path(box)}/events/{quote(target.event_id, safe='')}/attachments"
        # Never resent as it is: its fate unknown, the listing decides.
        return Part(
            f"{target.event.key}.{n}",
            "POST",
            url,
            box.lower(),
            attachment_body(att),
            idempotent=False,
        )

    def _list(self, targets: Sequence[Target]) -> tuple[dict[str, set[str]], dict[str, Answer]]:
        """Names of the files on each event (key -> names), and failed listings."""
        parts = []
        for t in targets:
            box = t.event.organizer.calendar_id
            url = (
                f"{user_path(box)}/events/{quote(t.event_id, safe='')}/attachments"
                "?$select=name&$top=100"
            )
            parts.append(Part(t.event.key, "GET", url, box.lower()))
        answers = self._run(parts)
        names: dict[str, set[str]] = {}
        broken: dict[str, Answer] = {}
        for part in parts:
            answer = answers[part.id]
            if answer.ok:
                names[part.id] = {
                    str(a.get("name", "")) for a in (answer.body or {}).get("value", [])
                }
            else:
                broken[part.id] = answer
        return names, broken
