"""TOTP from the attacker's side: every way to get a code accepted that should not be.

Codes are computed with pyotp directly (and checked once against RFC 6238's own
vectors), so the tests do not trust the module to tell them what a right code is.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from econsult.security import totp

SECRET = totp.new_secret()
# A moment in the middle of a 30-second step, and that step's number.
NOW = datetime(2026, 3, 2, 17, 0, 15, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30


def code_at(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


# --- enrolment ---------------------------------------------------------------------


def test_secret_is_160_random_bits_in_base32() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 32 and "=" not in secret
        assert len(base64.b32decode(secret)) == 20


def test_provisioning_uri_names_account_and_issuer() -> None:
    uri = totp.provisioning_uri(SECRET, account="dr.lee@clinic.example")
    assert uri.startswith("otpauth://totp/")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == SECRET
    assert parsed.name == "dr.lee@clinic.example"
    assert parsed.issuer == "econsult"
    assert parsed.digits == 6 and parsed.interval == 30


def test_provisioning_uri_escapes_the_account() -> None:
    uri = totp.provisioning_uri(SECRET, account="a&secret=AAAA@x.example", issuer="Clinic")
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == SECRET
    assert parsed.name == "a&secret=AAAA@x.example"


def test_qr_svg_is_inline_svg_with_nothing_to_escape() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(SECRET, account="a@b.example"))
    assert svg.startswith("<svg") and "<?xml" not in svg
    root = ET.fromstring(svg)  # well-formed on its own
    assert root.tag == "svg"
    assert all(element.tag in {"svg", "g", "path"} for element in root.iter())
    # Paths only: no text, so neither the secret nor the account is in the markup.
    assert SECRET not in svg and "a@b.example" not in svg
    assert "<script" not in svg.lower() and "href" not in svg


# --- the window --------------------------------------------------------------------


def test_rfc_6238_vectors() -> None:
    # RFC 6238 appendix B (SHA-1), the last six digits of the 8-digit values.
    secret = base64.b32encode(b"12345678901234567890").decode()
    at = datetime.fromtimestamp(59, UTC)
    assert totp.verify(secret, "287082", now=at, last_used_step=None) == 1
    at = datetime.fromtimestamp(1111111109, UTC)
    assert totp.verify(secret, "081804", now=at, last_used_step=None) == 1111111109 // 30


def test_current_code_accepted_and_its_step_returned() -> None:
    assert totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_drift_either_way_accepted(offset: int) -> None:
    step = totp.verify(SECRET, code_at(STEP + offset), now=NOW, last_used_step=None)
    assert step == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2, -3, 3, -10, 10])
def test_codes_beyond_the_window_refused(offset: int) -> None:
    assert totp.verify(SECRET, code_at(STEP + offset), now=NOW, last_used_step=None) is None


def test_window_is_counted_in_steps_not_seconds() -> None:
    last_second = datetime.fromtimestamp((STEP + 1) * 30 - 1, UTC)
    assert totp.verify(SECRET, code_at(STEP + 1), now=last_second, last_used_step=None)
    assert totp.verify(SECRET, code_at(STEP + 2), now=last_second, last_used_step=None) is None
    assert totp.verify(SECRET, code_at(STEP - 2), now=last_second, last_used_step=None) is None


def test_another_users_code_refused() -> None:
    other = totp.new_secret()
    assert totp.verify(SECRET, code_at(STEP, other), now=NOW, last_used_step=None) is None


# --- once, ever --------------------------------------------------------------------


def test_reused_code_refused() -> None:
    used = totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=None)
    assert used == STEP
    assert totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=used) is None
    # ...also when it is replayed later, while it is still inside the window.
    later = NOW + timedelta(seconds=30)
    assert totp.verify(SECRET, code_at(STEP), now=later, last_used_step=used) is None


def test_older_code_refused_after_a_newer_one() -> None:
    newer = totp.verify(SECRET, code_at(STEP + 1), now=NOW, last_used_step=None)
    assert newer == STEP + 1
    assert totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=newer) is None
    assert totp.verify(SECRET, code_at(STEP - 1), now=NOW, last_used_step=newer) is None


def test_next_code_accepted_after_the_last_one() -> None:
    assert totp.verify(SECRET, code_at(STEP + 1), now=NOW, last_used_step=STEP) == STEP + 1


def test_step_used_at_confirmation_cannot_log_in() -> None:
    # Enrolment: confirming stores the step, so the code typed there is spent too.
    confirmed = totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=None)
    assert totp.verify(SECRET, code_at(STEP), now=NOW, last_used_step=confirmed) is None


def test_digits_shared_by_a_used_and_a_fresh_step_count_as_the_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One code in a million repeats within the window; when the repeat spans a used
    # and a fresh step, the person may have typed the fresh one, so it is accepted as
    # that step, never as the used one.
    real = pyotp.TOTP.generate_otp

    def colliding(self: pyotp.TOTP, step: int) -> str:
        return "111111" if step in (STEP - 1, STEP + 1) else real(self, step)

    monkeypatch.setattr(pyotp.TOTP, "generate_otp", colliding)
    assert totp.verify(SECRET, "111111", now=NOW, last_used_step=STEP - 1) == STEP + 1
    assert totp.verify(SECRET, "111111", now=NOW, last_used_step=None) == STEP + 1
    assert totp.verify(SECRET, "111111", now=NOW, last_used_step=STEP + 1) is None


# --- what may be typed -------------------------------------------------------------


@pytest.mark.parametrize("spacing", [
    "{}", " {} ", "{}\n", "{} {}", "{}-{}", "{}\u2013{}", "{}\u00a0{}", "{} - {}",
])
def test_spaces_and_hyphens_ignored(spacing: str) -> None:
    code = code_at(STEP)
    typed = spacing.format(code[:3], code[3:]) if spacing.count("{}") == 2 else spacing.format(code)
    assert totp.verify(SECRET, typed, now=NOW, last_used_step=None) == STEP


def test_full_width_digits_read_as_digits() -> None:
    wide = "".join(chr(ord(c) - ord("0") + 0xFF10) for c in code_at(STEP))
    assert totp.verify(SECRET, wide, now=NOW, last_used_step=None) == STEP


@pytest.mark.parametrize("typed", [
    "", "12345", "1234567", "12345678", "abcdef", "12345a", "123 45", "1.2345e5", "+12345",
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits: isdigit() says yes
    "1" * 10_000, "123456\x00", "0x1e240",
])
def test_malformed_codes_refused(typed: str) -> None:
    assert totp.normalise(typed) is None
    assert totp.verify(SECRET, typed, now=NOW, last_used_step=None) is None


def test_seven_digits_containing_the_code_refused() -> None:
    code = code_at(STEP)
    assert totp.verify(SECRET, code + "0", now=NOW, last_used_step=None) is None
    assert totp.verify(SECRET, "0" + code, now=NOW, last_used_step=None) is None


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.verify(SECRET, code_at(STEP), now=NOW.replace(tzinfo=None), last_used_step=None)


def test_verify_reads_no_clock() -> None:
    # The same call gives the same answer whatever the machine's time: years away.
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    step = int(long_ago.timestamp()) // 30
    assert totp.verify(SECRET, code_at(step), now=long_ago, last_used_step=None) == step
