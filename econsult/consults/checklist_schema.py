"""The renderable subset of JSON Schema that a workup checklist may use.

Staff edit checklists and the GP form renders them, so a checklist is accepted only
if the form can show every part of it: a flat object of yes/no, text, date, choice and
number items, each with a short title. Anything else (nesting, lists, combinators,
patterns) is refused here with a message naming the item, rather than silently
ignored by the form while still being enforced by the validator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from econsult.errors import InvalidInput

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_PROPERTIES, MAX_OPTIONS, MAX_TEXT = 20, 20, 2000
MAX_TITLE, MAX_DESCRIPTION, MAX_UNIT = 120, 300, 20

_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")  # always fullmatch: "$" allows a trailing newline
_TOP_KEYS = {"$schema", "$id", "$comment", "title", "description", "version", "type",
             "properties", "required", "additionalProperties"}
_COMMON = {"type", "title", "description", "x-recommended", "$comment"}
_KEYS = {"boolean": _COMMON, "choice": _COMMON | {"enum", "x-enum-labels"},
         "text": _COMMON | {"maxLength", "format"},
         "number": _COMMON | {"minimum", "maximum", "x-unit"}}


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def item_kind(prop: Mapping[str, Any]) -> str:
    """boolean, choice, text (dates included) or number (integers included)."""
    if prop.get("type") == "string":
        return "choice" if "enum" in prop else "text"
    return "number" if prop.get("type") in ("number", "integer") else str(prop.get("type"))


def _check_property(name: str, prop: object) -> None:
    def bad(message: str) -> InvalidInput:
        return InvalidInput(f"Item {name}: {message}", field=name)

    if not _NAME.fullmatch(name):
        raise bad("names are lower-case letters, digits and _, starting with a letter.")
    if not isinstance(prop, dict):
        raise bad("must be an object.")
    if prop.get("type") in ("object", "array"):
        raise bad("nested objects and lists cannot be shown on the form.")
    if prop.get("type") not in ("boolean", "string", "number", "integer"):
        raise bad("type must be boolean, string, number or integer.")
    kind = item_kind(prop)
    extra = sorted(set(prop) - _KEYS[kind])
    if extra:
        raise bad(f"{', '.join(extra)} is not supported for this type.")
    title = prop.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise bad(f"a title of 1 to {MAX_TITLE} characters is required.")
    if len(prop.get("description", "")) > MAX_DESCRIPTION:  # a string: check_schema said so
        raise bad(f"the description is longer than {MAX_DESCRIPTION} characters.")
    if not isinstance(prop.get("x-recommended", False), bool):
        raise bad("x-recommended must be true or false.")
    if kind == "choice":
        options = prop["enum"]
        if not 1 <= len(options) <= MAX_OPTIONS or not all(
                isinstance(o, str) and o.strip() for o in options):
            raise bad(f"a choice needs 1 to {MAX_OPTIONS} text options.")
        labels = prop.get("x-enum-labels", options)
        if not isinstance(labels, list) or len(labels) != len(options) or not all(
                isinstance(lb, str) and 0 < len(lb) <= MAX_TITLE for lb in labels):
            raise bad(f"x-enum-labels needs one label of 1 to {MAX_TITLE} characters per option.")
    elif kind == "text":
        if prop.get("format", "date") != "date":
            raise bad("the only supported format is date.")
        limit = prop.get("maxLength")
        if limit is None and "format" not in prop:
            raise bad("free text needs a maxLength.")
        if limit is not None and not 1 <= limit <= MAX_TEXT:
            raise bad(f"maxLength must be 1 to {MAX_TEXT}.")
    elif kind == "number":
        low, high = prop.get("minimum"), prop.get("maximum")
        if not all(v is None or is_number(v) for v in (low, high)):
            raise bad("minimum and maximum must be finite numbers.")
        if low is not None and high is not None and low > high:
            raise bad("minimum is above maximum.")
        if not isinstance(prop.get("x-unit", ""), str) or len(prop.get("x-unit", "")) > MAX_UNIT:
            raise bad(f"x-unit must be text of at most {MAX_UNIT} characters.")


def check_schema(schema: object) -> None:
    """Refuse, with `InvalidInput`, any checklist the GP form cannot render."""

    def bad(message: str, keyword: str) -> InvalidInput:
        return InvalidInput(message, field=f"schema.{keyword}")

    if not isinstance(schema, dict):
        raise InvalidInput("A checklist must be a JSON object.", field="schema")
    try:  # the meta-schema settles the types of title, enum, maxLength, minimum, required...
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.path)
        raise InvalidInput(f"Not a valid JSON Schema at {where or 'the top'}: {exc.message}",
                           field=f"schema.{where}" if where else "schema") from None
    extra = sorted(set(schema) - _TOP_KEYS)
    if extra:
        raise bad(f"{', '.join(extra)} is not supported in a checklist.", extra[0])
    if schema.get("$schema") != DRAFT_2020_12:
        raise bad(f"$schema must be {DRAFT_2020_12}.", "$schema")
    if schema.get("type") != "object":
        raise bad("A checklist must be of type object.", "type")
    title = schema.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise bad(f"A checklist needs a title of 1 to {MAX_TITLE} characters.", "title")
    if type(schema.get("version")) is not int or schema["version"] < 1:
        raise bad("version must be a whole number of at least 1.", "version")
    if schema.get("additionalProperties") is not False:
        raise bad("additionalProperties must be false, so unknown answers are refused.",
                  "additionalProperties")
    properties = schema.get("properties", {})
    if not 1 <= len(properties) <= MAX_PROPERTIES:
        raise bad(f"A checklist has 1 to {MAX_PROPERTIES} items.", "properties")
    for name, prop in properties.items():
        _check_property(name, prop)
    for name in schema.get("required", []):
        if name not in properties:
            raise bad(f"Required item {name} is not one of the checklist's items.", "required")
        if properties[name].get("x-recommended"):
            raise InvalidInput(f"Item {name} cannot be both required and recommended.",
                               field=name)
