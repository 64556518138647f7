"""Finding consults by patient: the blind-index rows a consult is written with, the
condition a search adds to a list, and re-indexing after a key rotation.

What can be found: a word of the patient's name by its first letters (2 or more;
accents and case ignored: "tre" finds "Trémblay"), and the health number exactly
(spaces and hyphens ignored). Several words must all match. Not found: a name by
letters in the middle of a word, a misspelling, a part of a health number, or
anything in the question or the messages. A search never widens what the caller may
see: it is one more condition on the policy's list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlmodel import col

from econsult.db import Database
from econsult.errors import Conflict, InvalidInput
from econsult.models import Consult, ConsultSearchToken
from econsult.security.blind_index import number_tokens, query_terms, term_tokens, tokens_for
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring, KeyringError

log = logging.getLogger(__name__)

MAX_QUERY = 100
MAX_TERMS = 5
Progress = Callable[[int, int], None]


def token_rows(keyring: Keyring, consult_id: str, *, name: str,
               health_number: str) -> list[dict[str, object]]:
    """The rows that make a consult findable (under the active KEK's search key)."""
    kek = keyring.active
    return [{"consult_id": consult_id, "token": t, "kek_id": kek.id}
            for t in sorted(tokens_for(kek, name=name, health_number=health_number))]


def _has_token(tokens: list[bytes]) -> ColumnElement[bool]:
    return col(Consult.id).in_(select(col(ConsultSearchToken.consult_id))
                               .where(col(ConsultSearchToken.token).in_(tokens)))


def matching(keyring: Keyring, q: str) -> ColumnElement[bool]:
    """The condition for consults whose patient `q` finds: every word a name prefix
    or the health number, or the whole of `q` the health number."""
    q = q.strip()
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"Search for at most {MAX_QUERY} characters.", field="q")
    terms = query_terms(q)
    if not terms:
        raise InvalidInput("Search for at least 2 letters of a name, or a health number.",
                           field="q")
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"Search for at most {MAX_TERMS} words.", field="q")
    words = and_(*(_has_token(term_tokens(keyring, t)) for t in terms))
    whole = number_tokens(keyring, q)
    return or_(words, _has_token(whole)) if len(terms) > 1 and whole else words


def same_health_number(keyring: Keyring, health_number: str) -> ColumnElement[bool] | None:
    """The condition for consults of the patient with `health_number` (exact, through
    the blind index), or None when there is no number to look for."""
    tokens = number_tokens(keyring, health_number)
    return _has_token(tokens) if tokens else None


async def reindex(db: Database, keyring: Keyring, progress: Progress | None = None, *,
                  batch: int = 500) -> int:
    """Write every consult's search tokens under the active KEK's key where they are
    not already (after a rotation; consults never indexed, such as bulk-loaded demo
    history). One transaction per batch; returns how many consults were re-indexed."""
    cipher = FieldCipher(keyring)
    active = keyring.active_id
    async with db.read() as session:
        total = int((await session.execute(
            select(func.count()).select_from(Consult))).scalar_one())
    last, done, changed, failures = "", 0, 0, []
    while True:
        async with db.write() as session:
            rows = (await session.execute(
                select(col(Consult.id), col(Consult.patient_name),
                       col(Consult.patient_health_number))
                .where(col(Consult.id) > last).order_by(col(Consult.id)).limit(batch))).all()
            if not rows:
                break
            ids = [r[0] for r in rows]
            held = (await session.execute(
                select(col(ConsultSearchToken.consult_id), col(ConsultSearchToken.kek_id))
                .where(col(ConsultSearchToken.consult_id).in_(ids)))).all()
            current = {cid for cid, kek in held if kek == active}
            stale = {cid for cid, kek in held if kek != active}
            todo = [r for r in rows if r[0] not in current or r[0] in stale]
            new_rows: list[dict[str, object]] = []
            for cid, name_token, number_token in todo:
                try:
                    name = cipher.open("consults", "patient_name", cid, name_token)
                    number = cipher.open("consults", "patient_health_number", cid,
                                         number_token)
                except KeyringError as exc:
                    log.error("consult %s could not be re-indexed: %s", cid, exc)
                    failures.append(cid)
                    continue
                new_rows.extend(token_rows(keyring, cid, name=name, health_number=number))
            ok = [r[0] for r in todo if r[0] not in failures]
            if ok:
                await session.execute(delete(ConsultSearchToken)
                                      .where(col(ConsultSearchToken.consult_id).in_(ok)))
                if new_rows:
                    await session.execute(insert(ConsultSearchToken), new_rows)
            changed += len(ok)
        last = ids[-1]
        done += len(rows)
        if progress:
            progress(min(done, total), max(total, done))
    if failures:
        raise Conflict(f"{len(failures)} consults could not be re-indexed for search "
                       f"(their fields do not open with the keyring): {failures[:5]}",
                       code="reindex_incomplete")
    return changed


async def count_tokens(db: Database, kek_id: str) -> int:
    """How many search tokens still come from `kek_id` (for `keys retire`)."""
    async with db.read() as session:
        return int((await session.execute(
            select(func.count()).select_from(ConsultSearchToken)
            .where(col(ConsultSearchToken.kek_id) == kek_id))).scalar_one())
