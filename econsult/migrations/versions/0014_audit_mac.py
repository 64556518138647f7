"""audit chain keyed with a MAC from the keyring

- audit_events.mac / mac_kek: HMAC of each row's hash under a key derived from a KEK
  (named by mac_kek); audit_head.mac / mac_kek likewise for the head.
  Existing rows get "" here (Alembic holds no keys); `econsult migrate` then keys
  them, once the old, unkeyed chain has verified intact (ops/audit_keys.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("mac", 64), ("mac_kek", 32))


def upgrade() -> None:
    for table in ("audit_events", "audit_head"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, length in _COLUMNS:
                batch_op.add_column(sa.Column(
                    name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False,
                    server_default=""))


def downgrade() -> None:
    for table in ("audit_events", "audit_head"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in reversed(_COLUMNS):
                batch_op.drop_column(name)
