"""Errors a user can cause, each carrying the message they should read.

Services raise these; the web layer maps each class to an HTTP status in one table
(econsult/http/errors.py). Nothing here knows about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    """The request is malformed or a field is invalid; nothing was changed."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class BadCredentials(DomainError):
    code = "bad_credentials"


class PermissionDenied(DomainError):
    """Refused for a reason the user may know (e.g. a missing CSRF token)."""

    code = "forbidden"


class NotFound(DomainError):
    """Unknown, or not the caller's to see: the two are indistinguishable on purpose."""

    code = "not_found"


class Conflict(DomainError):
    """The object's state does not allow this now (an illegal transition)."""

    code = "conflict"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DataCorrupt(DomainError):
    """Stored data failed an integrity check: the server's fault, not the user's (500),
    but still answered with a message a person can act on."""

    code = "data_corrupt"


class TooLarge(DomainError):
    code = "too_large"


class UnsupportedMedia(DomainError):
    code = "unsupported_media"
