"""A specialist's answer templates: saved snippets (a title, and any of the answer's
body, impression, plan, red flags, follow-up) to start an answer from. Each is its
owner's alone: anyone else's id answers 404, exactly like an unknown one. The content
is sealed like a message (a snippet may carry clinical wording)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.errors import InvalidInput, NotFound
from econsult.models import AnswerTemplate
from econsult.security.policy import Action, Principal, require

PARTS = ("body", "impression", "plan", "refer_if", "follow_up")
MAX_TEMPLATES, MAX_TITLE, MAX_PART = 100, 120, 5000


@dataclass(slots=True)
class TemplateView:
    id: str
    title: str
    body: str
    impression: str
    plan: str
    refer_if: str
    follow_up: str
    updated_at: str


def _clean(title: object, parts: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("Give the template a title.", field="title")
    if len(title.strip()) > MAX_TITLE:
        raise InvalidInput(f"The title is too long (at most {MAX_TITLE} characters).",
                           field="title")
    cleaned: dict[str, str] = {}
    for name in PARTS:
        value = parts.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be text.", field=name)
        if len(value) > MAX_PART:
            raise InvalidInput(f"{name} is too long (at most {MAX_PART:,} characters).",
                               field=name)
        cleaned[name] = value.strip()
    if not any(cleaned.values()):
        raise InvalidInput("A template needs some text in at least one part.", field="body")
    return title.strip(), cleaned


def _view(deps: ConsultDeps, row: AnswerTemplate) -> TemplateView:
    parts = json.loads(deps.fields.open("answer_templates", "content", row.id, row.content))
    text = {p: str(parts.get(p, "")) for p in PARTS}
    return TemplateView(row.id, row.title, text["body"], text["impression"], text["plan"],
                        text["refer_if"], text["follow_up"], row.updated_at.isoformat())


async def list_own(deps: ConsultDeps, user: Principal) -> list[TemplateView]:
    require(user, Action.own_templates)
    async with deps.db.read() as db:
        rows = list((await db.execute(select(AnswerTemplate).where(
            col(AnswerTemplate.owner_id) == user.id).order_by(col(AnswerTemplate.title)))
        ).scalars())
    return [_view(deps, r) for r in rows]


async def create(deps: ConsultDeps, user: Principal, title: object,
                 parts: Mapping[str, object]) -> TemplateView:
    require(user, Action.own_templates)
    clean_title, cleaned = _clean(title, parts)
    template_id = str(uuid.uuid4())
    sealed = deps.fields.seal("answer_templates", "content", template_id, json.dumps(cleaned))
    now = deps.clock.now()
    async with deps.db.write() as db:
        count = len(list((await db.execute(select(col(AnswerTemplate.id)).where(
            col(AnswerTemplate.owner_id) == user.id))).scalars()))
        if count >= MAX_TEMPLATES:
            raise InvalidInput(f"You have {MAX_TEMPLATES} templates; delete one first.",
                               field="title")
        row = AnswerTemplate(id=template_id, owner_id=user.id, title=clean_title,
                             content=sealed, created_at=now, updated_at=now)
        db.add(row)
    return _view(deps, row)


async def _own(db: AsyncSession, user: Principal, template_id: str) -> AnswerTemplate:
    row = await db.get(AnswerTemplate, template_id) if len(template_id) <= 36 else None
    if row is None or row.owner_id != user.id:
        raise NotFound("Template not found.")
    return row


async def update(deps: ConsultDeps, user: Principal, template_id: str, title: object,
                 parts: Mapping[str, object]) -> TemplateView:
    require(user, Action.own_templates)
    clean_title, cleaned = _clean(title, parts)
    sealed = deps.fields.seal("answer_templates", "content", template_id, json.dumps(cleaned))
    async with deps.db.write() as db:
        row = await _own(db, user, template_id)
        row.title, row.content, row.updated_at = clean_title, sealed, deps.clock.now()
    return _view(deps, row)


async def delete(deps: ConsultDeps, user: Principal, template_id: str) -> None:
    require(user, Action.own_templates)
    async with deps.db.write() as db:
        await db.delete(await _own(db, user, template_id))
