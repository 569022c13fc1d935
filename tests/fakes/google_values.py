"""Values shared by the fake's store and server: Google's error body, RFC 3339
times, event spans, and the opaque page/sync tokens it hands out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, *, domain: str = "global"):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
                "code": self.status,
                "message": self.message,
            }
        }


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ApiError(400, "invalid", f"time {value!r} has no offset")
    return parsed


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time(part: dict[str, Any], field: str) -> datetime:
    if "dateTime" in part:
        text = part["dateTime"]
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            if not part.get("timeZone"):
                raise ApiError(400, "invalid", f"{field}: missing time zone definition")
            parsed = parsed.replace(tzinfo=ZoneInfo(part["timeZone"]))
        return parsed
    if "date" in part:
        zone = ZoneInfo(part.get("timeZone") or "UTC")
        return datetime.fromisoformat(part["date"]).replace(tzinfo=zone)
    raise ApiError(400, "required", f"Missing {field} time.")


def span(event: dict[str, Any]) -> tuple[datetime, datetime]:
    return _event_time(event["start"], "start"), _event_time(event["end"], "end")


def encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
        return data
    except (ValueError, json.JSONDecodeError):
        raise ApiError(400, "invalid", "Invalid token value.") from None


class RpcError(ApiError):
    """An error in the shape of Google's newer APIs (Meet v2): `error.status` is the
    canonical code name (PERMISSION_DENIED, ...) and a reason, when there is one,
    sits in an ErrorInfo detail instead of an `errors` list."""

    def __init__(self, status: int, code_name: str, message: str, *, reason: str = ""):
        super().__init__(status, reason or code_name, message)
        self.code_name = code_name
        self.detail_reason = reason

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message}
        error["status"] = self.code_name
        if self.detail_reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.detail_reason,
                    "domain": "googleapis.com",
                }
            ]
        return {"error": error}
