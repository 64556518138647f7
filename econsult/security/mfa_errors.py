"""The one error a failed second factor raises, whatever the method or library.

A person reads the message; the library's own reason stays in ``__cause__`` for the
log and never reaches a response. Subclasses of InvalidInput, so the web layer's
table already answers them with a 400 and the message.
"""

from __future__ import annotations

from econsult.errors import InvalidInput


class MfaFailed(InvalidInput):
    code = "mfa_failed"


class PasskeyCloned(MfaFailed):
    """The authenticator's signature counter did not move forward: a signal that the
    private key exists in two places. Its own class so the service can audit it and
    flag the passkey rather than treat it as a mistyped code."""

    code = "passkey_cloned"
