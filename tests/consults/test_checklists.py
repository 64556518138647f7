"""Workup checklists: the shipped defaults, the renderable subset, answers and summaries."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.consults.checklists import (
    DRAFT_2020_12,
    DefaultChecklist,
    check_schema,
    load_defaults,
    missing_recommended,
    summary,
    validate_answers,
)
from econsult.consults.submission import DERMATOLOGY_FIELDS
from econsult.errors import InvalidInput
from econsult.ops.migrate import DEFAULT_SPECIALTIES

DEFAULTS = load_defaults()
SPECIALTIES = ["dermatology", "cardiology", "endocrinology", "psychiatry", "neurology",
               "gastroenterology", "rheumatology", "nephrology", "hematology",
               "infectious-diseases", "geriatric-medicine", "pediatrics"]


def default(specialty: str, reason: str) -> DefaultChecklist:
    return next(c for c in DEFAULTS if (c.specialty, c.reason) == (specialty, reason))


def sample() -> dict[str, Any]:
    """One item of every renderable kind, for exact messages and summaries."""
    return {
        "$schema": DRAFT_2020_12,
        "title": "Sample",
        "version": 1,
        "type": "object",
        "properties": {
            "tsh": {"title": "Recent TSH", "description": "Within the last 3 months",
                    "type": "number", "minimum": 0, "maximum": 500, "x-unit": "mIU/L"},
            "syncope": {"title": "Syncope", "type": "boolean"},
            "frequency": {"title": "Frequency", "type": "string",
                          "enum": ["daily", "weekly"], "x-enum-labels": ["Daily", "Weekly"]},
            "episodes": {"title": "Episodes", "type": "integer", "minimum": 0, "maximum": 50},
            "onset": {"title": "Onset", "type": "string", "format": "date"},
            "duration": {"title": "Duration", "type": "string", "maxLength": 2000},
            "ecg": {"title": "ECG", "type": "boolean", "x-recommended": True},
        },
        "required": ["tsh", "syncope"],
        "additionalProperties": False,
    }


def refused(call: Callable[[], object]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value


# --- the shipped defaults -------------------------------------------------------------


def test_every_default_loads_and_passes_check_schema() -> None:
    assert DEFAULTS
    for checklist in DEFAULTS:
        check_schema(checklist.schema)
        assert checklist.title == checklist.schema["title"]
        assert checklist.version == checklist.schema["version"] == 1
        assert checklist.schema["$id"] == (
            f"urn:econsult:checklist:{checklist.specialty}:{checklist.reason}:v1")


def test_the_defaults_cover_exactly_the_catalogue() -> None:
    assert sorted({c.specialty for c in DEFAULTS}) == sorted(SPECIALTIES)
    assert sorted(SPECIALTIES) == sorted(DEFAULT_SPECIALTIES)


@pytest.mark.parametrize("specialty", SPECIALTIES)
def test_each_specialty_has_two_to_four_short_cited_reasons(specialty: str) -> None:
    reasons = [c for c in DEFAULTS if c.specialty == specialty]
    slugs = [c.reason for c in reasons]
    assert 2 <= len(reasons) <= 4
    assert len(set(slugs)) == len(slugs)
    for checklist in reasons:
        schema = checklist.schema
        assert 4 <= len(schema["properties"]) <= 9, checklist.reason
        # A source is named with its year: the checklist is traceable to a guideline.
        assert re.search(r"\b(19|20)\d\d\b", schema["$comment"]), checklist.reason
        assert len(schema["$comment"]) > 40
        # Required means the specialist cannot answer without it: never most of the list.
        assert 1 <= len(schema["required"]) <= len(schema["properties"]) // 2 + 1


def test_palpitations_asks_for_ecg_tsh_cbc_duration_frequency_and_syncope() -> None:
    checklist = default("cardiology", "palpitations")
    titles = " | ".join(p["title"] for p in checklist.schema["properties"].values())
    for needed in ("ECG", "TSH", "CBC", "Duration", "often", "Syncope"):
        assert needed.lower() in titles.lower(), needed
    assert {"syncope", "episode_frequency"} <= set(checklist.schema["required"])


def test_dermatology_checklists_add_to_the_form_rather_than_repeat_it() -> None:
    derm = [c for c in DEFAULTS if c.specialty == "dermatology"]
    for checklist in derm:
        assert not set(checklist.schema["properties"]) & set(DERMATOLOGY_FIELDS)
    lesion = default("dermatology", "pigmented-lesion").schema["properties"]
    assert {"lesion_changing", "bleeding", "personal_history_skin_cancer",
            "family_history_melanoma"} <= set(lesion)
    for reason in ("rash-dermatitis", "acne", "psoriasis"):
        assert "treatments_tried" in default("dermatology", reason).schema["properties"]


# --- the renderable subset ------------------------------------------------------------


def mutated(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    schema = sample()
    change(schema)
    return schema


def _too_many(schema: dict[str, Any]) -> None:
    schema["properties"] = {f"item_{i}": {"title": f"Item {i}", "type": "boolean"}
                            for i in range(21)}


UNRENDERABLE: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("nested object", lambda s: s["properties"].update(
        nested={"title": "Nested", "type": "object", "properties": {}}), "nested"),
    ("array", lambda s: s["properties"].update(
        meds={"title": "Meds", "type": "array", "items": {"type": "string"}}), "meds"),
    ("unknown type", lambda s: s["properties"].update(
        scan={"title": "Scan", "type": "null"}), "scan"),
    ("two types", lambda s: s["properties"].update(
        either={"title": "Either", "type": ["string", "number"]}), "either"),
    ("too many properties", _too_many, "schema.properties"),
    ("no properties", lambda s: s.update(properties={}), "schema.properties"),
    ("bad name", lambda s: s["properties"].update(
        {"Bad-Name": {"title": "Bad", "type": "boolean"}}), "Bad-Name"),
    ("required names a missing property", lambda s: s["required"].append("ghost"),
     "schema.required"),
    ("additionalProperties missing", lambda s: s.pop("additionalProperties"),
     "schema.additionalProperties"),
    ("additionalProperties true", lambda s: s.update(additionalProperties=True),
     "schema.additionalProperties"),
    ("over-long item title", lambda s: s["properties"]["tsh"].update(title="T" * 121), "tsh"),
    ("over-long checklist title", lambda s: s.update(title="T" * 121), "schema.title"),
    ("item without a title", lambda s: s["properties"]["syncope"].pop("title"), "syncope"),
    ("over-long description", lambda s: s["properties"]["tsh"].update(description="d" * 301),
     "tsh"),
    ("text without maxLength", lambda s: s["properties"]["duration"].pop("maxLength"),
     "duration"),
    ("maxLength over 2000", lambda s: s["properties"]["duration"].update(maxLength=2001),
     "duration"),
    ("format other than date", lambda s: s["properties"]["onset"].update(format="email"),
     "onset"),
    ("too many options", lambda s: s["properties"]["frequency"].update(
        enum=[f"o{i}" for i in range(21)], **{"x-enum-labels": [f"O{i}" for i in range(21)]}),
     "frequency"),
    ("labels do not match options", lambda s: s["properties"]["frequency"].update(
        {"x-enum-labels": ["Daily"]}), "frequency"),
    ("keyword the form cannot show", lambda s: s["properties"]["duration"].update(
        pattern="^[a-z]+$"), "duration"),
    ("minimum above maximum", lambda s: s["properties"]["tsh"].update(minimum=600), "tsh"),
    ("required and recommended", lambda s: s["required"].append("ecg"), "ecg"),
    ("top-level combinator", lambda s: s.update(allOf=[{"required": ["ecg"]}]), "schema.allOf"),
    ("another draft", lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"}),
     "schema.$schema"),
    ("no version", lambda s: s.pop("version"), "schema.version"),
    ("not an object type", lambda s: s.update(type="array"), "schema.type"),
    ("invalid JSON Schema", lambda s: s["properties"]["duration"].update(maxLength=-1),
     "schema.properties.duration.maxLength"),
]


def test_the_sample_itself_is_renderable() -> None:
    check_schema(sample())


@pytest.mark.parametrize(("change", "field"), [(c, f) for _, c, f in UNRENDERABLE],
                         ids=[name for name, _, _ in UNRENDERABLE])
def test_check_schema_refuses_what_the_form_cannot_render(
    change: Callable[[dict[str, Any]], object], field: str
) -> None:
    error = refused(lambda: check_schema(mutated(change)))
    assert error.field == field
    assert error.message.endswith(".") or ":" in error.message


@pytest.mark.parametrize("kind", ["object", "array"])
def test_nested_items_are_refused_for_what_they_are(kind: str) -> None:
    schema = mutated(lambda s: s["properties"].update(inner={"title": "Inner", "type": kind}))
    assert "cannot be shown on the form" in refused(lambda: check_schema(schema)).message


@pytest.mark.parametrize("schema", [None, [], "object", 3])
def test_check_schema_refuses_a_non_object(schema: object) -> None:
    assert refused(lambda: check_schema(schema)).field == "schema"


# --- answers --------------------------------------------------------------------------


def test_validate_answers_cleans_what_an_html_form_sends() -> None:
    cleaned = validate_answers(sample(), {
        "tsh": " 4.2 ", "syncope": "on", "frequency": " weekly", "episodes": "12",
        "onset": "2024-03-15", "duration": "  about two minutes  ", "ecg": "",
    })
    assert cleaned == {"tsh": 4.2, "syncope": True, "frequency": "weekly", "episodes": 12,
                       "onset": "2024-03-15", "duration": "about two minutes"}
    assert type(cleaned["episodes"]) is int


@pytest.mark.parametrize(("raw", "expected"), [
    (True, True), (False, False), ("true", True), ("false", False), ("on", True),
    (" TRUE ", True), ("no", False),
])
def test_booleans_accept_json_and_form_spellings(raw: object, expected: bool) -> None:
    assert validate_answers(sample(), {"tsh": 1, "syncope": raw})["syncope"] is expected


@pytest.mark.parametrize(("raw", "expected"), [
    (5, 5), (5.5, 5.5), ("5", 5), ("+0.25", 0.25), (".5", 0.5), ("1e2", 100.0),
])
def test_numbers_stay_numbers(raw: object, expected: float) -> None:
    cleaned = validate_answers(sample(), {"tsh": raw, "syncope": False})
    assert cleaned["tsh"] == expected and not isinstance(cleaned["tsh"], str)


@pytest.mark.parametrize("blank", [{}, {"tsh": ""}, {"tsh": "   "}, {"tsh": None}])
def test_a_required_item_left_blank_is_named(blank: dict[str, object]) -> None:
    error = refused(lambda: validate_answers(sample(), {**blank, "syncope": "false"}))
    assert (error.field, error.message) == ("checklist.tsh", "Recent TSH is required.")


def test_a_required_no_is_an_answer() -> None:
    assert validate_answers(sample(), {"tsh": 2, "syncope": False})["syncope"] is False


@pytest.mark.parametrize(("answers", "field", "message"), [
    ({"frequency": "hourly"}, "checklist.frequency", "Frequency must be one of: Daily, Weekly."),
    ({"tsh": "501"}, "checklist.tsh", "Recent TSH must be at most 500 mIU/L."),
    ({"tsh": -1}, "checklist.tsh", "Recent TSH must be at least 0 mIU/L."),
    ({"tsh": "high"}, "checklist.tsh", "Recent TSH must be a number."),
    ({"tsh": True}, "checklist.tsh", "Recent TSH must be a number."),
    ({"tsh": "nan"}, "checklist.tsh", "Recent TSH must be a number."),
    ({"tsh": "1_000"}, "checklist.tsh", "Recent TSH must be a number."),
    ({"tsh": float("inf")}, "checklist.tsh", "Recent TSH must be a number."),
    ({"episodes": "3.5"}, "checklist.episodes", "Episodes must be a whole number."),
    ({"episodes": 51}, "checklist.episodes", "Episodes must be at most 50."),
    ({"syncope": "maybe"}, "checklist.syncope", "Syncope must be yes or no."),
    ({"syncope": [1]}, "checklist.syncope", "Syncope must be yes or no."),
    ({"duration": "x" * 2001}, "checklist.duration",
     "Duration must be at most 2000 characters."),
    ({"duration": 12}, "checklist.duration", "Duration must be text."),
    ({"onset": "2024-02-30"}, "checklist.onset", "Onset must be a date like 2024-03-15."),
    ({"onset": "20240315"}, "checklist.onset", "Onset must be a date like 2024-03-15."),
    ({"onset": "2024-03-15\n"}, None, None),
    ({"colour": "red"}, "checklist.colour", "colour is not an item of this checklist."),
])
def test_wrong_answers_are_refused_with_a_message_a_gp_understands(
    answers: dict[str, object], field: str | None, message: str | None
) -> None:
    full = {"tsh": "3", "syncope": "no", **answers}
    if field is None:  # accepted: surrounding whitespace is stripped before the date check
        assert validate_answers(sample(), full)["onset"] == "2024-03-15"
        return
    error = refused(lambda: validate_answers(sample(), full))
    assert (error.field, error.message) == (field, message)


@pytest.mark.parametrize("answers", [None, [], "tsh=3", 3, [("tsh", 3)]])
def test_answers_must_be_an_object(answers: object) -> None:
    error = refused(lambda: validate_answers(sample(), answers))
    assert error.field == "checklist"


def test_the_first_error_follows_the_checklist_order_not_the_answers_order() -> None:
    broken = {"duration": "x" * 3000, "episodes": "many", "syncope": "perhaps"}
    forwards = refused(lambda: validate_answers(sample(), broken))
    backwards = refused(lambda: validate_answers(sample(), dict(reversed(broken.items()))))
    assert forwards.field == backwards.field == "checklist.tsh"  # required, and first
    broken["tsh"] = "2"
    assert refused(lambda: validate_answers(sample(), broken)).field == "checklist.syncope"


def test_unknown_items_are_reported_before_anything_else_and_in_a_stable_order() -> None:
    error = refused(lambda: validate_answers(sample(), {"zeta": 1, "alpha": 2}))
    assert error.field == "checklist.alpha"


def test_validate_answers_does_not_touch_its_arguments() -> None:
    schema, answers = sample(), {"tsh": " 3 ", "syncope": "on"}
    before = copy.deepcopy((schema, answers))
    validate_answers(schema, answers)
    assert (schema, answers) == before


# --- reading answers back -------------------------------------------------------------


def test_summary_renders_each_type_in_checklist_order() -> None:
    cleaned = validate_answers(sample(), {
        "tsh": "4.0", "syncope": "false", "frequency": "daily", "episodes": 3,
        "onset": "2024-03-15", "duration": "Two minutes",
    })
    lines = summary(sample(), cleaned)
    assert [line.name for line in lines] == list(sample()["properties"])
    assert [line.text for line in lines] == [
        "Recent TSH: 4 mIU/L",
        "Syncope: No",
        "Frequency: Daily",
        "Episodes: 3",
        "Onset: 2024-03-15",
        "Duration: Two minutes",
        "Not provided: ECG (recommended)",
    ]
    assert [line.name for line in lines if line.missing] == ["ecg"]


def test_summary_marks_missing_required_and_plain_optional_items() -> None:
    lines = {line.name: line for line in summary(sample(), {"syncope": True})}
    assert lines["tsh"].text == "Not provided: Recent TSH (required)"
    assert lines["duration"].text == "Not provided: Duration"
    assert lines["syncope"].text == "Syncope: Yes"
    assert lines["tsh"].required and not lines["tsh"].recommended


def test_missing_recommended_names_blank_recommended_items_only() -> None:
    assert missing_recommended(sample(), {}) == ["ECG"]
    assert missing_recommended(sample(), {"ecg": " "}) == ["ECG"]
    assert missing_recommended(sample(), {"ecg": False}) == []
    palpitations = default("cardiology", "palpitations").schema
    titles = missing_recommended(palpitations, {"tsh": 2.1})
    assert "12-lead ECG attached" in titles and "Recent TSH" not in titles


# --- any valid answers to any default -------------------------------------------------


def valid_value(prop: dict[str, Any], *, required: bool) -> st.SearchStrategy[object]:
    kind = prop["type"]
    if kind == "boolean":
        return st.one_of(st.booleans(), st.sampled_from(["true", "false", "on", " False "]))
    if "enum" in prop:
        return st.sampled_from(prop["enum"]).flatmap(
            lambda o: st.sampled_from([o, f" {o} "]))
    if kind == "string" and prop.get("format") == "date":
        return st.dates().map(lambda d: d.isoformat())
    if kind == "string":
        text = st.text(max_size=prop["maxLength"])
        return text.filter(lambda s: bool(s.strip())) if required else text
    low, high = prop.get("minimum"), prop.get("maximum")
    numbers: st.SearchStrategy[int | float] = (
        st.integers(min_value=low, max_value=high) if kind == "integer"
        else st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False))
    return st.one_of(numbers, numbers.map(str))


@st.composite
def checklist_and_answers(draw: st.DrawFn) -> tuple[DefaultChecklist, dict[str, object]]:
    checklist = draw(st.sampled_from(DEFAULTS))
    required = set(checklist.schema["required"])
    answers: dict[str, object] = {}
    for name, prop in checklist.schema["properties"].items():
        if name in required or draw(st.booleans()):
            answers[name] = draw(valid_value(prop, required=name in required))
    return checklist, answers


@settings(max_examples=300, deadline=None)
@given(checklist_and_answers())
def test_any_valid_answers_are_accepted_and_summarised_once_each(
    case: tuple[DefaultChecklist, dict[str, object]]
) -> None:
    checklist, answers = case
    cleaned = validate_answers(checklist.schema, answers)
    assert validate_answers(checklist.schema, cleaned) == cleaned  # cleaning is idempotent
    lines = summary(checklist.schema, cleaned)
    assert [line.name for line in lines] == list(checklist.schema["properties"])
    for line in lines:
        assert line.missing == (line.name not in cleaned)
        assert not (line.missing and line.required)
