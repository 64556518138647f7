"""Workup checklists: what a specialist needs to answer a consult, per specialty and reason.

Data, not code. A checklist is a JSON Schema (Draft 2020-12) document; the defaults
ship as `checklist_defaults/<specialty>.json` and staff will edit them on a page, so
clinical content changes without a release. The GP form renders these schemas, so
only a renderable subset is accepted (`check_schema`, see checklist_schema.py): a flat
object of yes/no, text, date, choice and number items, each titled for a GP.

Versioning. A consult stores the reason, the checklist version it was answered
against and the cleaned answers. Editing a checklist makes a new version and the old
one is kept, never rewritten, so an old consult still renders (`summary`) with the
titles, labels and units the GP saw.

A required boolean must be rendered as a yes/no choice, not a checkbox: an unticked
checkbox sends nothing, which reads as "not answered".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from econsult.consults.checklist_schema import (
    DRAFT_2020_12,
    MAX_TEXT,
    check_schema,
    is_number,
    item_kind,
)
from econsult.errors import InvalidInput

__all__ = ["DRAFT_2020_12", "DefaultChecklist", "SummaryLine", "check_schema", "load_defaults",
           "missing_recommended", "summary", "validate_answers"]

# Always fullmatch, with ASCII digits: "$" would let a trailing newline through.
_SLUG = re.compile(r"[a-z][a-z0-9-]{0,60}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,30}", re.ASCII)
# Stricter than float(), which also takes "nan", "inf" and "1_000".
_NUMBER = re.compile(r"[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?", re.ASCII)
_TRUE, _FALSE = {"true", "on", "yes", "1"}, {"false", "off", "no", "0"}


@dataclass(frozen=True)
class DefaultChecklist:
    specialty: str
    reason: str
    title: str
    version: int
    schema: dict[str, Any]


@dataclass(frozen=True)
class SummaryLine:
    """One checklist item as the specialist reads it; `value` is None when not given."""

    name: str
    label: str
    value: str | None
    required: bool
    recommended: bool

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def text(self) -> str:
        if self.value is not None:
            return f"{self.label}: {self.value}"
        tag = " (required)" if self.required else " (recommended)" if self.recommended else ""
        return f"Not provided: {self.label}{tag}"


# --- answers ------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_number(raw: object, *, whole: bool) -> int | float | None:
    if isinstance(raw, str):
        if _INTEGER.fullmatch(raw.strip()):
            return int(raw)
        if whole or not _NUMBER.fullmatch(raw.strip()):
            return None
        raw = float(raw)
    if not is_number(raw):
        return None
    if whole and isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    return raw


def _number_text(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _coerce(name: str, prop: Mapping[str, Any], raw: object) -> object:
    def bad(message: str) -> InvalidInput:
        return InvalidInput(f"{prop['title']} {message}", field=f"checklist.{name}")

    kind = item_kind(prop)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise bad("must be yes or no.")
    if kind == "choice":
        if isinstance(raw, str) and raw.strip() in prop["enum"]:
            return raw.strip()
        raise bad(f"must be one of: {', '.join(prop.get('x-enum-labels', prop['enum']))}.")
    if kind == "text":
        if not isinstance(raw, str):
            raise bad("must be text.")
        text = raw.strip()
        if prop.get("format") == "date":
            try:
                date.fromisoformat(text if _DATE.fullmatch(text) else "not a date")
            except ValueError:
                raise bad("must be a date like 2024-03-15.") from None
        if len(text) > prop.get("maxLength", MAX_TEXT):
            raise bad(f"must be at most {prop['maxLength']} characters.")
        return text
    number = _parse_number(raw, whole=prop["type"] == "integer")
    if number is None:
        raise bad("must be a whole number." if prop["type"] == "integer" else "must be a number.")
    unit = f" {prop['x-unit']}" if prop.get("x-unit") else ""
    if number < prop.get("minimum", -math.inf):
        raise bad(f"must be at least {_number_text(prop['minimum'])}{unit}.")
    if number > prop.get("maximum", math.inf):
        raise bad(f"must be at most {_number_text(prop['maximum'])}{unit}.")
    return number


def validate_answers(schema: Mapping[str, Any], answers: object) -> dict[str, object]:
    """The cleaned answers to a checklist that passed `check_schema`, or `InvalidInput`
    on `checklist.<item>`: unknown items first, then the first problem in item order."""
    if not isinstance(answers, Mapping):
        raise InvalidInput("The checklist answers must be an object.", field="checklist")
    properties: Mapping[str, Mapping[str, Any]] = schema["properties"]
    unknown = sorted(str(key) for key in answers if key not in properties)
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not an item of this checklist.",
                           field=f"checklist.{unknown[0]}")
    required = set(schema.get("required", []))
    cleaned: dict[str, object] = {}
    for name, prop in properties.items():
        if not _blank(answers.get(name)):
            cleaned[name] = _coerce(name, prop, answers[name])
        elif name in required:
            raise InvalidInput(f"{prop['title']} is required.", field=f"checklist.{name}")
    # The checks above speak the GP's language; jsonschema is the referee that what is
    # stored really satisfies the stored schema.
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    order = list(properties)
    for error in sorted(validator.iter_errors(cleaned), key=lambda e: (
            order.index(e.path[0]) if e.path and e.path[0] in properties else -1)):
        item = str(error.path[0]) if error.path else ""
        what = properties[item]["title"] if item in properties else "The checklist"
        raise InvalidInput(f"{what} is not valid: {error.message}",
                           field=f"checklist.{item}" if item else "checklist")
    return cleaned


# --- reading answers back -----------------------------------------------------------


def _value_text(prop: Mapping[str, Any], value: object) -> str:
    kind = item_kind(prop)
    if kind == "boolean" and isinstance(value, bool):
        return "Yes" if value else "No"
    if kind == "choice" and isinstance(value, str) and value in prop["enum"]:
        return str(prop.get("x-enum-labels", prop["enum"])[prop["enum"].index(value)])
    if kind == "number" and prop.get("x-unit"):
        return f"{_number_text(value)} {prop['x-unit']}"
    return _number_text(value)


def summary(schema: Mapping[str, Any], answers: Mapping[str, object]) -> list[SummaryLine]:
    """Every item of the checklist once, in its order, for the specialist's view."""
    required = set(schema.get("required", []))
    return [SummaryLine(name=name, label=prop["title"],
                        value=None if _blank(answers.get(name))
                        else _value_text(prop, answers[name]),
                        required=name in required,
                        recommended=bool(prop.get("x-recommended", False)))
            for name, prop in schema["properties"].items()]


def missing_recommended(schema: Mapping[str, Any], answers: Mapping[str, object]) -> list[str]:
    """Titles of recommended items left blank: a gentle warning, never a refusal."""
    return [prop["title"] for name, prop in schema["properties"].items()
            if prop.get("x-recommended") and _blank(answers.get(name))]


# --- the shipped defaults -----------------------------------------------------------


def load_defaults() -> list[DefaultChecklist]:
    """Every default checklist, by specialty then reason order. Each is checked, so a bad
    edit to the package data fails loudly here, never as a broken form."""
    folder = resources.files("econsult.consults").joinpath("checklist_defaults")
    checklists: list[DefaultChecklist] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        specialty = entry.name.removesuffix(".json")
        if specialty == entry.name:
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        if data.get("specialty") != specialty or not _SLUG.fullmatch(specialty):
            raise ValueError(f"{entry.name}: specialty must be {specialty!r}")
        seen: set[str] = set()
        for item in data["reasons"]:
            reason, schema = item["reason"], item["schema"]
            if not _SLUG.fullmatch(reason) or reason in seen:
                raise ValueError(f"{entry.name}: reason {reason!r} is not a unique slug")
            seen.add(reason)
            try:
                check_schema(schema)
            except InvalidInput as exc:
                raise ValueError(f"{entry.name}: {reason}: {exc.message}") from exc
            checklists.append(DefaultChecklist(specialty, reason, schema["title"],
                                               schema["version"], schema))
    return checklists
