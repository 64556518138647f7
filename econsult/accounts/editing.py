"""An admin editing an account: name, role and specialties, in one transaction.

Taking a specialty away from a specialist (or making them something else) hands the
open consults they hold of it back to routing in the same transaction, so none is
left with someone who can no longer act on it.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlmodel import col

from econsult.accounts.users import public, specialties_of
from econsult.consults.handback import HandbackDeps, Moves, Why, hand_back_held, publish_moves
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import Role, Specialty, User, UserPublic, UserSpecialty
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}.",
                           field="role") from None


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput("Enter a name.", field="name")
    if len(name) > 200:
        raise InvalidInput("The name is too long (at most 200 characters).", field="name")
    return name


async def update_person(
    deps: HandbackDeps, *, user_id: int, name: str, role: str, specialties: list[str],
    actor: Actor, by: Principal,
) -> tuple[UserPublic, int]:
    """Returns the account as saved and how many open consults went back to routing."""
    require(by, Action.manage_users)
    new_role, new_name, wanted = _role(role), _name(name), set(specialties)
    if new_role is Role.specialist and not wanted:
        raise InvalidInput("A specialist needs at least one specialty.", field="specialties")
    if new_role is not Role.specialist and wanted:
        raise InvalidInput("Only specialists hold specialties.", field="specialties")
    now = deps.clock.now()
    moves = Moves.new()
    async with deps.db.write() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if user_id == by.id and new_role is not Role(user.role):
            raise Conflict("You cannot change your own role.", code="self_role")
        known = set((await db.execute(select(col(Specialty.slug)).where(
            col(Specialty.slug).in_(sorted(wanted))))).scalars())
        if wanted - known:
            raise InvalidInput(f"Unknown specialty: {', '.join(sorted(wanted - known))}.",
                               field="specialties")
        held = set(await specialties_of(db, user_id))
        old_role = Role(user.role)
        user.name, user.role = new_name, new_role
        removed, added = held - wanted, wanted - held
        if removed:
            await db.execute(delete(UserSpecialty).where(
                col(UserSpecialty.user_id) == user_id,
                col(UserSpecialty.specialty).in_(sorted(removed))))
        for slug in sorted(added):
            db.add(UserSpecialty(user_id=user_id, specialty=slug))
        await db.flush()  # routing reads the account as it is now
        moved = 0
        if old_role is Role.specialist and new_role is not Role.specialist:
            moved = await hand_back_held(deps, db, holder_id=user_id, why=Why.role_changed,
                                         actor=actor, now=now, moves=moves)
        elif removed:
            moved = await hand_back_held(deps, db, holder_id=user_id,
                                         why=Why.specialty_removed, actor=actor, now=now,
                                         moves=moves, specialties=removed)
        changes = [f"role={new_role.value}"] if new_role is not old_role else []
        changes += [f"+{s}" for s in sorted(added)] + [f"-{s}" for s in sorted(removed)]
        await audit.append(db, actor=actor, action="user.update", at=now, object_type="user",
                           object_id=str(user_id),
                           detail=" ".join(changes + [f"consults_moved={moved}"]))
    await publish_moves(deps, moves)
    return public(user, sorted(wanted)), moved
