"""Recovery codes from the attacker's side: guessing, reuse, and what the table reveals."""

from __future__ import annotations

import math
import re

import pytest

from econsult.security import recovery_codes as rc

# A fixed code with a 1 and a 0 in it, for the look-alike tests.
KNOWN = "10ab-cdef-gh1k"
SHOWN = re.compile(r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}")


def test_ten_distinct_codes_in_the_shown_format() -> None:
    codes = rc.generate()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(SHOWN.fullmatch(code) for code in codes)


def test_each_code_carries_at_least_50_bits() -> None:
    assert len(set(rc.ALPHABET)) == 32
    assert rc.LENGTH * math.log2(len(rc.ALPHABET)) >= 50
    # Drawn from all 32 symbols: a few hundred codes use every one of them.
    assert set("".join(rc.generate(300)).replace("-", "")) == set(rc.ALPHABET)


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("ilou") & set(rc.ALPHABET)


def test_generate_refuses_nonsense_counts() -> None:
    with pytest.raises(ValueError):
        rc.generate(0)


def test_stored_hash_reveals_nothing_and_is_salted() -> None:
    first, second = rc.hash_code(KNOWN), rc.hash_code(KNOWN)
    assert first != second  # the same code twice gives two hashes
    for stored in (first, second):
        assert stored.startswith("s256$")
        assert "10abcdefgh1k" not in stored.lower() and KNOWN not in stored
    assert rc.matches(KNOWN, first) and rc.matches(KNOWN, second)


def test_a_guessed_code_is_refused() -> None:
    codes = rc.generate()
    hashes = [rc.hash_code(code) for code in codes]
    for guess in rc.generate(50):
        if guess not in codes:
            assert rc.find_match(guess, hashes) is None
            assert not any(rc.matches(guess, h) for h in hashes)


def test_a_code_one_character_off_is_refused() -> None:
    stored = rc.hash_code(KNOWN)
    assert not rc.matches("10ab-cdef-gh1m", stored)
    assert not rc.matches("10ab-cdef-gh1", stored)
    assert not rc.matches("10ab-cdef-gh1kk", stored)


def test_find_match_names_the_code_used_so_it_works_once() -> None:
    codes = rc.generate()
    hashes = [rc.hash_code(code) for code in codes]
    for index, code in enumerate(codes):
        assert rc.find_match(code, hashes) == index
    # The caller deletes what was used; the same code then matches nothing.
    used = rc.find_match(codes[3], hashes)
    assert used == 3
    remaining = hashes[:used] + hashes[used + 1 :]
    assert rc.find_match(codes[3], remaining) is None
    assert rc.find_match(codes[4], remaining) == 3  # the others still work


def test_find_match_on_nothing_stored() -> None:
    assert rc.find_match(KNOWN, []) is None


@pytest.mark.parametrize("typed", [
    "10AB-CDEF-GH1K", "10abcdefgh1k", "10ab cdef gh1k", " 10ab-cdef-gh1k ",
    "10ab\u2013cdef\u2014gh1k", "1Oab-cdef-gh1k", "I0ab-cdef-ghlk", "l0ab-cdef-ghIk",
    "ｌ０ａｂ－ｃｄｅｆ－ｇｈ１ｋ",  # full width, from a phone keyboard
])
def test_case_separators_and_look_alikes_normalised(typed: str) -> None:
    assert rc.matches(typed, rc.hash_code(KNOWN))


@pytest.mark.parametrize("typed", [
    "", "10ab-cdef-gh1", "10ab-cdef-gh1k-0", "10ab-cdef-gh1u", "10ab_cdef_gh1k",
    "10ab.cdef.gh1k", "10ab-cdef-gh1k\x00", "x" * 10_000, "10ab-cdef-gh1ķ",
])
def test_malformed_codes_refused(typed: str) -> None:
    assert rc.normalise(typed) is None
    assert rc.find_match(typed, [rc.hash_code(KNOWN)]) is None


def test_hash_code_refuses_what_is_not_a_code() -> None:
    with pytest.raises(ValueError):
        rc.hash_code("not a code")


@pytest.mark.parametrize("damaged", [
    "", "s256", "s256$$", "md5$AAAA$BBBB", "s256$!!!!$????", "s256$AAAA$AAAA",
    "s256$" + "A" * 22 + "$" + "A" * 42 + "é",
])
def test_a_damaged_stored_hash_matches_nothing(damaged: str) -> None:
    assert not rc.matches(KNOWN, damaged)
    assert rc.find_match(KNOWN, [damaged, rc.hash_code(KNOWN)]) == 1


def test_a_hash_from_another_scheme_with_the_same_digest_is_refused() -> None:
    stored = rc.hash_code(KNOWN)
    assert not rc.matches(KNOWN, "argon2" + stored[len("s256"):])


@pytest.mark.parametrize("position", [0, 5, 9, None])
def test_find_match_checks_every_hash_wherever_the_match_is(
    monkeypatch: pytest.MonkeyPatch, position: int | None
) -> None:
    codes = rc.generate()
    hashes = [rc.hash_code(code) for code in codes]
    real, calls = rc._digest, []

    def counting(salt: bytes, canonical: str) -> bytes:
        calls.append(canonical)
        return real(salt, canonical)

    monkeypatch.setattr(rc, "_digest", counting)
    typed = codes[position] if position is not None else "zzzz-zzzz-zzzz"
    assert rc.find_match(typed, hashes) == position
    assert len(calls) == len(hashes)
