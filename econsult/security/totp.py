"""Time-based one-time passwords (RFC 6238): 6 digits, 30-second steps, HMAC-SHA1.

SHA-1 and 6 digits are what every authenticator app supports; HMAC-SHA1 is not
weakened by SHA-1's collisions. What makes a code hard to abuse is here and in the
caller: a window of one step either side (clock drift, no more), a code accepted
once ever (`verify` refuses any step at or before the last one used), and attempts
throttled by the service.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import unicodedata
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
# RFC 6238 section 6: at most one step of drift either way is the recommended window.
WINDOW = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length; 32 base32 characters

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_CODE = re.compile(r"[0-9]{6}")
# Longer input than any formatting of six digits is refused before normalising it.
_MAX_INPUT = 32


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def provisioning_uri(secret: str, *, account: str, issuer: str = "econsult") -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG (no XML declaration): paths only, no text, so nothing
    in it needs escaping. It carries the secret: serve the page with no-store."""
    qr = segno.make(uri, error="m", micro=False)
    # A white background, because a page in dark mode would otherwise show dark
    # modules on a dark background, which phone cameras cannot read.
    return str(qr.svg_inline(scale=5, light="#fff", svgclass="totp-qr", lineclass=None))


def normalise(code: str) -> str | None:
    """The six digits of what the person typed, or None if it is not a TOTP code.

    Apps show "123 456" and people paste "123-456"; NFKC turns full-width digits from
    a phone keyboard into ASCII ones, and only ASCII digits are accepted after that
    (``str.isdigit`` would let other scripts' digits through)."""
    if len(code) > _MAX_INPUT:
        return None
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", code))
    return cleaned if _CODE.fullmatch(cleaned) else None


def time_step(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp()) // STEP_SECONDS


def verify(secret: str, code: str, *, now: datetime, last_used_step: int | None) -> int | None:
    """The time step `code` belongs to, or None if it is wrong, outside the window, or
    not newer than `last_used_step`.

    The caller stores the returned step as the new `last_used_step`, with a
    conditional update (``... WHERE last_used_step IS NULL OR last_used_step < :step``)
    so two requests racing with one code cannot both succeed."""
    given = normalise(code)
    if given is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    matched: int | None = None
    # Every step in the window is computed and compared, matched or not, so the time
    # taken says nothing about which step (or whether a used one) matched.
    for step in range(current - WINDOW, current + WINDOW + 1):
        expected = totp.generate_otp(step)
        fresh = last_used_step is None or step > last_used_step
        if hmac.compare_digest(expected.encode(), given.encode()) and fresh:
            matched = step
    return matched
