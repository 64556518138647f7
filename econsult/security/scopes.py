"""SMART system scopes: what an API client may do, per FHIR resource type.

Both spellings a backend client may send are understood and normalised to one form:
v1 `system/ServiceRequest.read` (read = read + search, write = create + update + delete,
`*` = all) and v2 `system/ServiceRequest.rs` (the letters c, r, u, d, s, in that order).
Only `system/` scopes exist here: `patient/` and `user/` need a launch context that
Backend Services does not have, and there are no refresh tokens (`offline_access`).
Search-narrowed v2 scopes (`.rs?status=active`) are refused, not widened to the type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from econsult.errors import InvalidInput

Operation = Literal["create", "read", "update", "delete", "search"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
WILDCARD = "*"
# The resource types econsult serves at /fhir (DESIGN.md); a scope for any other type
# would promise access that does not exist.
RESOURCE_TYPES = frozenset({
    "ServiceRequest", "Task", "Communication", "QuestionnaireResponse", "DocumentReference",
    "Binary", "Patient", "Practitioner", "PractitionerRole",
})
MAX_SCOPE_TEXT = 2048
MAX_SCOPES = 64

_LETTERS: dict[str, Operation] = {
    "c": "create", "r": "read", "u": "update", "d": "delete", "s": "search",
}
_V1: dict[str, frozenset[Operation]] = {
    "read": frozenset({"read", "search"}),
    "write": frozenset({"create", "update", "delete"}),
    "*": frozenset(OPERATIONS),
}
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_SMART = re.compile(r"(?P<context>[a-z]+)/(?P<type>\*|[A-Za-z]+)\.(?P<perms>[a-z*]+)")
_V2_ORDER = re.compile(r"c?r?u?d?s?")

Grants = tuple[tuple[str, frozenset[Operation]], ...]


@dataclass(frozen=True, slots=True)
class GrantedScopes:
    """A normalised scope set: `*` first (if any), then each resource type that gets more
    than `*` gives, with its full permissions. Equal sets compare equal however spelled."""

    entries: Grants

    @classmethod
    def of(cls, grants: Mapping[str, Iterable[Operation]]) -> GrantedScopes:
        wildcard = frozenset(grants.get(WILDCARD, ()))
        entries: list[tuple[str, frozenset[Operation]]] = []
        if wildcard:
            entries.append((WILDCARD, wildcard))
        for resource_type in sorted(grants):
            if resource_type == WILDCARD:
                continue
            permissions = frozenset(grants[resource_type]) | wildcard
            if permissions != wildcard:
                entries.append((resource_type, permissions))
        return cls(tuple(entries))

    def _for(self, resource_type: str) -> frozenset[Operation]:
        table = dict(self.entries)
        return table.get(resource_type, table.get(WILDCARD, frozenset()))

    def permits(self, resource_type: str, op: Operation) -> bool:
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}")
        if resource_type != WILDCARD and resource_type not in RESOURCE_TYPES:
            return False
        return op in self._for(resource_type)

    def intersection(self, other: GrantedScopes) -> GrantedScopes:
        names = {WILDCARD} | {t for t, _ in self.entries} | {t for t, _ in other.entries}
        return GrantedScopes.of({t: self._for(t) & other._for(t) for t in names})

    def to_string(self) -> str:
        """Canonical v2 spelling, for the token response's `scope` and for storage."""
        return " ".join(f"system/{t}.{_letters(p)}" for t, p in self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)


def parse_scopes(scopes: str | Iterable[str]) -> GrantedScopes:
    """Parse space-separated scopes (or a list of them); InvalidInput(code="invalid_scope")
    naming the first one that is malformed or not something econsult grants."""
    texts = [scopes] if isinstance(scopes, str) else list(scopes)
    if not all(isinstance(text, str) for text in texts):
        raise _invalid("Scopes must be text.")
    if sum(len(text) for text in texts) > MAX_SCOPE_TEXT:
        raise _invalid(f"The scope list is longer than {MAX_SCOPE_TEXT} characters.")
    # Only a space separates scopes (RFC 6749); other whitespace makes a malformed token.
    tokens = [token for text in texts for token in text.split(" ") if token]
    if len(tokens) > MAX_SCOPES:
        raise _invalid(f"More than {MAX_SCOPES} scopes were given.")
    grants: dict[str, set[Operation]] = {}
    for token in tokens:
        resource_type, permissions = _parse_one(token)
        grants.setdefault(resource_type, set()).update(permissions)
    return GrantedScopes.of(grants)


def grant(requested: str | None, allowed: Iterable[str]) -> GrantedScopes:
    """What a token request gets: the requested scopes narrowed to the client's allowed ones.

    No scope requested means everything allowed (SMART permits the server a default).
    Requested scopes outside the allowance are dropped, not refused: the client learns
    what it got from the token response's `scope` (RFC 6749 section 3.3). Nothing left
    is refused.
    """
    allowance = parse_scopes(allowed)
    if requested is None or not requested.strip(" "):
        granted = allowance
    else:
        granted = parse_scopes(requested).intersection(allowance)
    if not granted:
        offered = allowance.to_string() or "nothing"
        raise _invalid(f"None of the requested scopes is allowed for this client; it may "
                       f"request: {offered}.")
    return granted


def _parse_one(token: str) -> tuple[str, frozenset[Operation]]:
    shown = repr(token) if len(token) <= 60 else repr(token[:57] + "...")
    if not _SCOPE_TOKEN.fullmatch(token):
        raise _invalid(f"Scope {shown} contains characters a scope may not have.")
    if "?" in token:
        raise _invalid(f"Scope {shown}: scopes narrowed by search parameters are not "
                       "supported; ask for the whole resource type.")
    match = _SMART.fullmatch(token)
    if match is None:
        raise _invalid(f"Scope {shown} is not a SMART scope of the form "
                       "system/<ResourceType or *>.<permissions>.")
    if match["context"] != "system":
        raise _invalid(f"Scope {shown}: API clients get system/ scopes only (SMART Backend "
                       "Services has no patient or user in context).")
    resource_type = match["type"]
    if resource_type != WILDCARD and resource_type not in RESOURCE_TYPES:
        raise _invalid(f"Scope {shown}: econsult does not serve that resource type; it "
                       f"serves {', '.join(sorted(RESOURCE_TYPES))}.")
    return resource_type, _permissions(match["perms"], shown)


def _permissions(text: str, shown: str) -> frozenset[Operation]:
    if text in _V1:
        return _V1[text]
    if text and _V2_ORDER.fullmatch(text):
        return frozenset(_LETTERS[letter] for letter in text)
    raise _invalid(f"Scope {shown}: permissions are read, write or * (SMART v1), or the "
                   "letters c, r, u, d, s in that order, each at most once (SMART v2).")


def _letters(permissions: frozenset[Operation]) -> str:
    return "".join(letter for letter, op in _LETTERS.items() if op in permissions)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_scope", field="scope")
