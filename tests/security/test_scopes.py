"""SMART scopes: what a client asks for, what it is allowed, and what it gets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from econsult.errors import InvalidInput
from econsult.security.scopes import (
    OPERATIONS,
    RESOURCE_TYPES,
    GrantedScopes,
    Operation,
    grant,
    parse_scopes,
)

ALL: set[Operation] = set(OPERATIONS)
READ: set[Operation] = {"read", "search"}
WRITE: set[Operation] = {"create", "update", "delete"}


def perms(scopes: GrantedScopes, resource_type: str) -> set[Operation]:
    return {op for op in OPERATIONS if scopes.permits(resource_type, op)}


def invalid(text: Any, allowed: list[str] | None = None) -> str:
    with pytest.raises(InvalidInput) as info:
        if allowed is None:
            parse_scopes(text)
        else:
            grant(text, allowed)
    assert info.value.code == "invalid_scope"
    assert info.value.field == "scope"
    return info.value.message


@pytest.mark.parametrize(("scope", "expected"), [
    ("system/ServiceRequest.read", READ),
    ("system/ServiceRequest.write", WRITE),
    ("system/ServiceRequest.*", ALL),
    ("system/ServiceRequest.rs", READ),
    ("system/ServiceRequest.cud", WRITE),
    ("system/ServiceRequest.cruds", ALL),
    ("system/ServiceRequest.r", {"read"}),
    ("system/ServiceRequest.s", {"search"}),
    ("system/ServiceRequest.cd", {"create", "delete"}),
])
def test_v1_and_v2_permissions_normalise_to_operations(scope: str, expected: set[str]) -> None:
    scopes = parse_scopes(scope)
    assert perms(scopes, "ServiceRequest") == expected
    assert perms(scopes, "Task") == set()


def test_v1_and_v2_spellings_of_the_same_grant_are_equal() -> None:
    assert parse_scopes("system/Task.read") == parse_scopes("system/Task.rs")
    assert parse_scopes("system/*.*") == parse_scopes("system/*.cruds")
    assert parse_scopes("system/Task.read system/Task.write") == parse_scopes("system/Task.cruds")
    assert parse_scopes(["system/Task.r", "system/Task.s"]) == parse_scopes("system/Task.rs")


def test_a_wildcard_covers_every_served_type_and_nothing_else() -> None:
    scopes = parse_scopes("system/*.rs")
    for resource_type in RESOURCE_TYPES:
        assert perms(scopes, resource_type) == READ
    assert not scopes.permits("Observation", "read")
    assert scopes.permits("*", "search") and not scopes.permits("*", "create")


def test_canonical_string_is_v2_wildcard_first_and_drops_what_the_wildcard_covers() -> None:
    scopes = parse_scopes("system/Task.read system/ServiceRequest.write system/*.read "
                          "system/Patient.rs system/ServiceRequest.read")
    assert scopes.to_string() == "system/*.rs system/ServiceRequest.cruds"
    assert parse_scopes(scopes.to_string()) == scopes
    assert parse_scopes("  system/Task.r   system/Task.s ").to_string() == "system/Task.rs"


def test_unknown_operations_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_scopes("system/*.*").permits("Task", "patch")  # type: ignore[arg-type]


# --- grant ---------------------------------------------------------------------------------

ALLOWED = ["system/ServiceRequest.cruds", "system/Task.rs", "system/Patient.r",
           "system/Communication.crs"]


@pytest.mark.parametrize("requested", [None, "", "   "])
def test_no_requested_scope_means_everything_allowed(requested: str | None) -> None:
    assert grant(requested, ALLOWED) == parse_scopes(ALLOWED)


def test_the_grant_is_the_intersection() -> None:
    granted = grant("system/ServiceRequest.rs system/Task.cruds system/Binary.r", ALLOWED)
    assert granted.to_string() == "system/ServiceRequest.rs system/Task.rs"
    assert granted.permits("Task", "search") and not granted.permits("Task", "update")
    assert not granted.permits("Binary", "read")  # asked for, never allowed: dropped


def test_a_wildcard_request_is_narrowed_to_the_allowance() -> None:
    assert grant("system/*.read", ALLOWED).to_string() == (
        "system/Communication.rs system/Patient.r system/ServiceRequest.rs system/Task.rs")
    assert grant("system/*.cruds", ALLOWED) == parse_scopes(ALLOWED)


def test_a_wildcard_allowance_narrows_to_the_request() -> None:
    assert grant("system/Task.cruds system/Patient.r", ["system/*.rs"]).to_string() == (
        "system/Patient.r system/Task.rs")
    assert grant("system/*.cruds", ["system/*.rs"]).to_string() == "system/*.rs"
    assert grant("system/*.rs", ["system/*.r", "system/Task.s"]).to_string() == (
        "system/*.r system/Task.rs")


def test_an_empty_intersection_is_refused_and_says_what_may_be_asked() -> None:
    message = invalid("system/Binary.r system/Task.c", ALLOWED)
    assert "system/ServiceRequest.cruds" in message
    assert "nothing" in invalid(None, [])


@pytest.mark.parametrize("scope", [
    "system/Task.sr",           # letters out of order
    "system/Task.rr",           # repeated
    "system/Task.x",
    "system/Task.",
    "system/Task.READ",
    "system/Task.rs?status=ready",
    "patient/Task.rs",
    "user/*.cruds",
    "system/Observation.rs",    # a type econsult does not serve
    "system/task.rs",           # types are case-sensitive
    "system/Task",
    "system/*",
    "Task.rs",
    "system/Task.rs.rs",
    "openid",
    "offline_access",
    "launch/patient",
    "system/Task.rs\tsystem/Patient.r",
    "system/Tásk.rs",
    'system/Task.r"',
])
def test_malformed_or_foreign_scopes_are_refused(scope: str) -> None:
    invalid(scope)
    invalid(f"system/Task.rs {scope}", ALLOWED)  # one bad scope spoils the request


def test_search_narrowed_scopes_are_refused_not_widened() -> None:
    assert "search parameters" in invalid("system/Task.rs?status=ready")
    assert "system/ scopes only" in invalid("patient/*.rs")


def test_a_bad_allowance_is_refused_too() -> None:
    invalid("system/Task.rs", ["system/Task.rs", "system/Whatever.rs"])


def test_limits() -> None:
    assert "longer than" in invalid("system/Task.rs " * 200)
    assert "More than 64" in invalid(" ".join(["system/Task.r"] * 65))
    invalid([b"system/Task.rs"])


def test_messages_quote_a_long_scope_briefly() -> None:
    message = invalid("system/" + "A" * 500 + ".rs")
    assert len(message) < 400


# --- properties ----------------------------------------------------------------------------

_scope = st.builds(
    "system/{}.{}".format,
    st.sampled_from(sorted(RESOURCE_TYPES) + ["*"]),
    st.sampled_from(["read", "write", "*", "c", "r", "s", "rs", "cud", "cruds", "cr", "ud"]),
)
_scopes = st.lists(_scope, max_size=8).map(" ".join)


@given(_scopes, _scopes)
def test_a_grant_never_exceeds_either_side(requested: str, allowed: str) -> None:
    try:
        granted = grant(requested, [allowed])
    except InvalidInput:
        return
    asked, may = parse_scopes(requested or allowed), parse_scopes(allowed)
    for resource_type in RESOURCE_TYPES:
        for op in OPERATIONS:
            expected = asked.permits(resource_type, op) and may.permits(resource_type, op)
            assert granted.permits(resource_type, op) == expected
    assert parse_scopes(granted.to_string()) == granted


@given(st.text(max_size=80))
def test_random_text_is_parsed_or_refused_with_invalid_scope(text: str) -> None:
    try:
        parse_scopes(text)
    except InvalidInput as error:
        assert error.code == "invalid_scope"
