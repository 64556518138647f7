"""Keyed blind indexes for finding consults by patient name or health number.

A row says "this consult's patient has a name token starting with these letters" or
"this consult's health number is this one", as an HMAC under a key derived from the
keyring (econsult.security.blind_index): the database never holds the plaintext, and
without the key a token cannot be checked against a guessed name. `kek_id` names the
KEK the token's key came from, so rotation re-indexes and retirement can count.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String
from sqlmodel import Field, SQLModel


class ConsultSearchToken(SQLModel, table=True):
    __tablename__ = "consult_search_tokens"
    __table_args__ = (Index("ix_consult_search_tokens_token", "token", "consult_id"),)

    consult_id: str = Field(sa_column=Column(
        String(36), ForeignKey("consults.id", ondelete="CASCADE"), primary_key=True))
    token: bytes = Field(sa_column=Column(LargeBinary(16), primary_key=True))
    kek_id: str = Field(max_length=16, index=True)
