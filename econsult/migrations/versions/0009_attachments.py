"""attachments: PDF attachments of consults and messages

- consult_attachments: one row per sanitised PDF; the file itself only in the
  encrypted blob store (`<id>.attachment`); the uploaded file name sealed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import econsult.models.types

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consult_attachments',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('consult_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('filename', econsult.models.types.SealedBytes(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('original_size', sa.Integer(), nullable=False),
    sa.Column('removed', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('kek_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', econsult.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consult_id'], ['consults.id'], name=op.f('fk_consult_attachments_consult_id_consults')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_consult_attachments_message_id_messages')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_consult_attachments_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consult_attachments'))
    )
    with op.batch_alter_table('consult_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consult_attachments_consult_id'), ['consult_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consult_attachments_kek_id'), ['kek_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consult_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consult_attachments_kek_id'))
        batch_op.drop_index(batch_op.f('ix_consult_attachments_consult_id'))
    op.drop_table('consult_attachments')
