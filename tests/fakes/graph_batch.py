"""`$batch` of the fake Graph, split from graph_server to keep that module small."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.graph_entra import Answer

if TYPE_CHECKING:
    from tests.fakes.graph_server import FakeGraph


def run_batch(self: FakeGraph, payload: dict[str, Any]) -> Answer:
    """POST /$batch: ≤ 20 parts, answers shuffled, `dependsOn`, > 4 parallel parts for
    one mailbox throttled, faults and broken connections per part.

    As Graph documents it: a part runs after the parts it `dependsOn` (which must
    come earlier in the list), and fails with 424 Failed Dependency when one of them
    failed; parts without dependencies run at once. A part's *wave* is 0 without
    dependencies, else one more than its latest dependency's: the parts of one wave
    run at the same time, so a mailbox with more than 4 parts in one wave gets 429
    (MailboxConcurrency) for the excess."""
    reqs = payload.get("requests", [])
    if not reqs or len(reqs) > 20:
        return 400, {}, {"error": {"code": "BadRequest", "message": "1 to 20 requests"}}
    ids = [r["id"] for r in reqs]
    if len(set(ids)) != len(ids):
        return 400, {}, {"error": {"code": "BadRequest", "message": "duplicate ids"}}
    has_deps = [bool(r.get("dependsOn")) for r in reqs]
    if self.refuse_mixed_dependson and any(has_deps) and not all(has_deps[1:]):
        # What older tenants answered (and Graph's known-issues page once listed).
        message = "Batch should be either fully sequential or fully parallel"
        return 400, {}, {"error": {"code": "BadRequest", "message": message}}
    per_wave: Counter[tuple[str, int]] = Counter()
    wave: dict[str, int] = {}
    status: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    cut, self._cut = self._cut, None
    for n, r in enumerate(reqs):
        if cut is not None and n >= cut:
            break  # the connection broke here: the rest never ran
        self.counts["batch_parts"] += 1
        url = r["url"] if r["url"].startswith("/") else "/" + r["url"]
        parts = urlsplit(url)
        q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        seg = [s for s in parts.path.split("/") if s]
        box = seg[1].lower() if len(seg) > 1 else ""
        deps = r.get("dependsOn") or []
        if any(d not in status for d in deps):
            return 400, {}, {"error": {"code": "BadRequest", "message": "bad dependsOn"}}
        wave[r["id"]] = 1 + max((wave[d] for d in deps), default=-1)
        if any(status[d] >= 400 for d in deps):
            self.counts["failed_dependency"] += 1
            answer: Answer = (424, {}, {"error": {"code": "FailedDependency", "message": ""}})
        else:
            per_wave[(box, wave[r["id"]])] += 1
            if per_wave[(box, wave[r["id"]])] > 4:
                self.counts["mailbox_throttled"] += 1
                answer = (
                    429,
                    {"Retry-After": "1"},
                    {
                        "error": {
                            "code": "ApplicationThrottled",
                            "message": "MailboxConcurrency",
                        }
                    },
                )
            else:
                fault = self.faults.draw(part=True)
                if fault:
                    answer = self._fault_answer(fault)
                else:
                    h = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
                    with self.lock:
                        self.log.append((f"part {r['method']}", url, h))
                    body = json.dumps(r["body"]).encode() if "body" in r else b""
                    answer = self._graph(r["method"], parts.path, q, h, body, top=False)
        status[r["id"]] = answer[0]
        item: dict[str, Any] = {"id": r["id"], "status": answer[0], "headers": answer[1]}
        if answer[2] is not None:
            item["body"] = answer[2]
        answers.append(item)
    random.shuffle(answers)  # Graph answers in any order
    return 200, {}, {"responses": answers}
