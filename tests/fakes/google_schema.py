"""Request-body checks against the Calendar v3 discovery document.

The fake answers 400 for an unknown field or a value of the wrong JSON type, as the
real service does, so a typo in the connector's event body fails a test instead of
being silently dropped. The document is the one shipped inside googleapiclient, i.e.
the same one the client library builds its methods from.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient


@cache
def discovery_document() -> dict[str, Any]:
    path = (
        Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
    )
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


class SchemaViolation(ValueError):
    """The body does not match the schema; the message names the JSON path."""


def validate(schema_name: str, body: Any) -> None:
    """Raise SchemaViolation when `body` does not fit schema `schema_name`."""
    _check(discovery_document()["schemas"], {"$ref": schema_name}, body, "body")


def _check(schemas: dict[str, Any], schema: dict[str, Any], value: Any, path: str) -> None:
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "any" or kind is None:
        return
    if kind == "object":
        if not isinstance(value, dict):
            raise SchemaViolation(f"{path}: expected an object")
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in props:
                _check(schemas, props[name], item, f"{path}.{name}")
            elif extra is not None:
                _check(schemas, extra, item, f"{path}.{name}")
            else:
                raise SchemaViolation(f"{path}: unknown field {name!r}")
        return
    if kind == "array":
        if not isinstance(value, list):
            raise SchemaViolation(f"{path}: expected an array")
        for index, item in enumerate(value):
            _check(schemas, schema["items"], item, f"{path}[{index}]")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SchemaViolation(f"{path}: expected a boolean")
        return
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaViolation(f"{path}: expected an integer")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise SchemaViolation(f"{path}: expected a string")
        _check_format(schema.get("format"), value, path)
        return
    raise SchemaViolation(f"{path}: unsupported schema type {kind!r}")


def _check_format(fmt: str | None, value: str, path: str) -> None:
    try:
        if fmt == "date-time":
            # An offset may be left out when the event gives a timeZone.
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif fmt == "date":
            date.fromisoformat(value)
        elif fmt == "int64":
            int(value)
    except ValueError:
        raise SchemaViolation(f"{path}: {value!r} is not a valid {fmt}") from None
