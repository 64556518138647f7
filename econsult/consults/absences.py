"""Absences that start while their specialist holds open consults: when the moment
comes, the deadline scheduler hands those consults back to routing.

An absence recorded as already running is handled by the request that records it
(`econsult.rota`); one that starts later is claimed here once it starts, with
`UPDATE ... WHERE handed_back_at IS NULL` so two processes never hand back twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlmodel import col

from econsult.consults.handback import HandbackDeps, Moves, Why, hand_back_held, publish_moves
from econsult.models import RotaAbsence
from econsult.models.types import UTCDateTime
from econsult.security.audit import SYSTEM

logger = logging.getLogger(__name__)
BATCH = 100


async def next_absence_start(deps: HandbackDeps) -> datetime | None:
    """When the earliest absence not yet handled starts (it may already have)."""
    now = deps.clock.now()
    async with deps.db.read() as db:
        found = (await db.execute(select(func.min(RotaAbsence.starts_at)).where(
            col(RotaAbsence.handed_back_at).is_(None), col(RotaAbsence.ends_at) > now))).scalar()
    if found is None:
        return None
    # func.min() loses the column type on SQLite; normalise to aware UTC.
    return UTCDateTime().process_result_value(found, None)  # type: ignore[arg-type]


async def process_started_absences(deps: HandbackDeps, now: datetime | None = None) -> int:
    """Hand back what each specialist held when their absence started; returns how many
    consults moved."""
    now = now or deps.clock.now()
    async with deps.db.read() as db:
        ids = list((await db.execute(select(col(RotaAbsence.id)).where(
            col(RotaAbsence.handed_back_at).is_(None), col(RotaAbsence.starts_at) <= now,
            col(RotaAbsence.ends_at) > now).order_by(col(RotaAbsence.starts_at)).limit(BATCH)
        )).scalars())
    moved = 0
    for absence_id in ids:
        try:
            moved += await _start(deps, int(absence_id or 0), now)
        except Exception:  # one bad row must not stop the others
            logger.exception("hand-back failed for absence %s", absence_id)
    return moved


async def _start(deps: HandbackDeps, absence_id: int, now: datetime) -> int:
    moves = Moves.new()
    async with deps.db.write() as db:
        claimed = await db.execute(
            update(RotaAbsence).where(col(RotaAbsence.id) == absence_id,
                                      col(RotaAbsence.handed_back_at).is_(None))
            .values(handed_back_at=now).execution_options(synchronize_session=False))
        if getattr(claimed, "rowcount", 0) != 1:
            return 0  # another process got there first
        absence = await db.get(RotaAbsence, absence_id)
        if absence is None:
            return 0
        moved = await hand_back_held(deps, db, holder_id=absence.specialist_id,
                                     why=Why.holder_absent, actor=SYSTEM, now=now, moves=moves)
    await publish_moves(deps, moves)
    return moved
