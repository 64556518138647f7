"""Keyed blind indexes: search tokens for encrypted patient names and health numbers.

A token is HMAC-SHA256 (truncated to 16 bytes) of a normalised value under a search
key derived from a KEK, with a domain label so a name token can never equal a
health-number token. Names are indexed by the prefixes (2 characters and up) of each
word, so "smi" finds "Smith"; health numbers exactly, ignoring spaces, hyphens and
case. The same name gives the same token in every consult (that is what makes it
searchable); the key never leaves the keyring, so the tokens reveal nothing to
someone holding only the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable

from econsult.security.keyring import Kek, Keyring

TOKEN_BYTES = 16
MIN_PREFIX = 2
MAX_WORD = 32  # longer words are indexed (and searched) by their first 32 characters
_WORD_SPLIT = re.compile(r"[\s\-‐-―/,.;]+")
_NOT_WORD = re.compile(r"[^0-9a-z]")
_NUMBER_NOISE = re.compile(r"[\s\-‐-―.]+")


def search_key(kek: Kek) -> bytes:
    """The search key of a KEK (one-way: the key cannot be recovered from it)."""
    return hmac.new(kek.key, b"econsult-blind-index\x00v1", hashlib.sha256).digest()


def _fold(text: str) -> str:
    """Lower case, accents dropped: "Zoë Ó'Brien" -> "zoe o'brien"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_words(name: str) -> list[str]:
    """The searchable words of a name: folded, split at spaces and hyphens, other
    punctuation dropped ("O'Brien-Smith" -> ["obrien", "smith"])."""
    words = (_NOT_WORD.sub("", w) for w in _WORD_SPLIT.split(_fold(name)))
    return [w[:MAX_WORD] for w in words if w]


def normal_number(number: str) -> str:
    """A health number as compared: upper case, without spaces, hyphens or dots."""
    return _NUMBER_NOISE.sub("", _fold(number)).upper()


def _mac(key: bytes, domain: bytes, value: str) -> bytes:
    return hmac.new(key, domain + b"\x00" + value.encode(), hashlib.sha256).digest()[
        :TOKEN_BYTES]


def _name_values(name: str) -> set[str]:
    return {w[:n] for w in name_words(name) for n in range(MIN_PREFIX, len(w) + 1)}


def tokens_for(kek: Kek, *, name: str, health_number: str) -> set[bytes]:
    """Every token a consult's patient is found by, under `kek`."""
    key = search_key(kek)
    found = {_mac(key, b"name", v) for v in _name_values(name)}
    number = normal_number(health_number)
    if number:
        found.add(_mac(key, b"hn", number))
    return found


def query_terms(q: str) -> list[str]:
    """The words of a search (at least MIN_PREFIX characters each)."""
    return [w for w in (_NOT_WORD.sub("", w)[:MAX_WORD] for w in _WORD_SPLIT.split(_fold(q)))
            if len(w) >= MIN_PREFIX]


def term_tokens(keyring: Keyring, term: str) -> list[bytes]:
    """What one search word may match, under every key in the keyring (a rotation in
    progress leaves some consults indexed under the previous key): a name prefix, or a
    whole health number."""
    out = []
    for kek in _keks(keyring):
        key = search_key(kek)
        out.append(_mac(key, b"name", term))
        out.append(_mac(key, b"hn", normal_number(term)))
    return out


def number_tokens(keyring: Keyring, q: str) -> list[bytes]:
    """The whole search as one health number ("9123 456 789")."""
    number = normal_number(q)
    return [_mac(search_key(kek), b"hn", number) for kek in _keks(keyring)] if number else []


def _keks(keyring: Keyring) -> Iterable[Kek]:
    return [keyring.get(i) for i in keyring.ids]
