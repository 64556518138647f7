"""Names of the audiences live events are addressed to.

- ``user:<id>``: one person (their own consults, or those assigned to them);
- ``pool:<slug>``: consults pooled for a specialty (every specialist holding it);
- ``specialty:<slug>``: all activity of a specialty (staff views filtered by it);
- ``staff``: program staff (codes and times of every consult);
- ``delegates:<gp id>``: one GP's consults, as the GP's delegates hear them.

Who belongs to which audience is decided in `econsult.security.policy`.
"""

from __future__ import annotations

import re

STAFF_GROUP = "staff"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_GROUP = re.compile(r"^(staff|(user|delegates):[1-9][0-9]*|"
                    r"(pool|specialty):[a-z0-9][a-z0-9-]{0,62})$")


def user_group(user_id: int) -> str:
    """Everything addressed to one user (their assigned queue, their own consults)."""
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise ValueError(f"user id must be a positive int, got {user_id!r}")
    return f"user:{user_id}"


def delegates_group(gp_id: int) -> str:
    """One GP's consults, for the delegates linked to that GP (not the GP's personal
    group: a delegate hears the consults, nothing else addressed to the GP)."""
    return f"delegates:{user_group(gp_id).removeprefix('user:')}"


def pool_group(specialty_slug: str) -> str:
    """Consults pooled for a specialty: every specialist holding it sees them."""
    return f"pool:{_check_slug(specialty_slug)}"


def specialty_group(specialty_slug: str) -> str:
    """All activity of a specialty (program staff views filtered by specialty)."""
    return f"specialty:{_check_slug(specialty_slug)}"


def is_group(name: object) -> bool:
    return isinstance(name, str) and _GROUP.match(name) is not None


def check_group(name: str) -> str:
    """Return ``name`` if it is a group the helpers above can produce, else raise."""
    if not is_group(name):
        raise ValueError(f"unknown group name: {name!r}")
    return name


def _check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValueError(f"not a specialty slug: {slug!r}")
    return slug
