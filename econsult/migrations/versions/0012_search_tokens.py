"""search tokens: keyed blind indexes of patient names and health numbers

- consult_search_tokens: HMAC tokens (name prefixes, the health number) per consult,
  with the KEK their key came from. Consults sent before this revision have none:
  `econsult keys reindex` (or the next `econsult keys rotate`) writes them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consult_search_tokens',
    sa.Column('consult_id', sa.String(length=36), nullable=False),
    sa.Column('token', sa.LargeBinary(length=16), nullable=False),
    sa.Column('kek_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['consult_id'], ['consults.id'], name=op.f('fk_consult_search_tokens_consult_id_consults'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('consult_id', 'token', name=op.f('pk_consult_search_tokens'))
    )
    with op.batch_alter_table('consult_search_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consult_search_tokens_kek_id'), ['kek_id'], unique=False)
        batch_op.create_index('ix_consult_search_tokens_token', ['token', 'consult_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consult_search_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_consult_search_tokens_token')
        batch_op.drop_index(batch_op.f('ix_consult_search_tokens_kek_id'))
    op.drop_table('consult_search_tokens')
