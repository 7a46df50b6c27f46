"""Validate an event (envelope + data) against the schemas in this folder."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match

CONTRACTS_DIR = Path(__file__).parent
EVENTS_DIR = CONTRACTS_DIR / "events"
EVENT_TYPES: tuple[str, ...] = tuple(sorted(path.name for path in EVENTS_DIR.iterdir() if path.is_dir()))

# RFC 3339: a date, a "T", a time and an explicit offset (a naive time is ambiguous on the wire).
# Both matched whole (fullmatch): with match(), `$` also took a trailing line break.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

# Our own checker: jsonschema checks "date-time" only when an optional package is
# installed, and a contract must not pass or fail depending on what happens to be installed.
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # "type" reports non-strings
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # raises on 2025-13-45
    return True


@FORMATS.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.fullmatch(value))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _validator(path: Path) -> Draft202012Validator:
    schema = load_json(path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def envelope_schema_path() -> Path:
    return CONTRACTS_DIR / "envelope.schema.json"


def data_schema_path(*, event_type: str, version: int) -> Path:
    return EVENTS_DIR / event_type / f"v{version}.schema.json"


def example_path(*, event_type: str, version: int = 1) -> Path:
    return EVENTS_DIR / event_type / f"v{version}.example.json"


def example_event(event_type: str, *, version: int = 1) -> dict[str, Any]:
    """A fresh copy of the example envelope, for producer and consumer tests to start from."""
    return copy.deepcopy(load_json(example_path(event_type=event_type, version=version)))


def validate_event(envelope: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `envelope` is a valid event of a known type and version."""
    _raise_first_error(_validator(envelope_schema_path()), envelope)
    event_type, version = envelope["type"], envelope["dataversion"]
    path = data_schema_path(event_type=event_type, version=version)
    if event_type not in EVENT_TYPES or not path.is_file():
        raise ValidationError(f"no contract for event type {event_type!r} version {version}")
    _raise_first_error(_validator(path), envelope["data"], prefix="data")


def _raise_first_error(validator: Draft202012Validator, instance: Any, *, prefix: str = "") -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        if prefix:
            error.path.appendleft(prefix)  # report "data/items/0/sku", not "items/0/sku"
        raise error
