"""daily turnaround rollups

- turnaround_days: per (UTC day of submission, specialty, urgency) the counts the
  turnaround figures add up; turnaround_day_bands: answered consults per band of
  time to answer (where each percentile's rank lies); turnaround_rollup_state: when they were rebuilt and the
  consults.updated_at watermark they include.
- ix_consults_updated_at: how the rollups find what changed since the watermark.

The tables start empty: the server rebuilds them in the background at start (until
then, and whenever they are missing, the figures are computed from the consults).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import econsult.models.types

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('turnaround_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('within', sa.Integer(), nullable=False),
    sa.Column('outcomes', sa.Integer(), nullable=False),
    sa.Column('avoided', sa.Integer(), nullable=False),
    sa.Column('usefulness_n', sa.Integer(), nullable=False),
    sa.Column('usefulness_sum', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'specialty', 'urgency', name=op.f('pk_turnaround_days'))
    )
    op.create_table('turnaround_day_bands',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('band', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'specialty', 'urgency', 'band', name=op.f('pk_turnaround_day_bands'))
    )
    op.create_table('turnaround_rollup_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('built_at', econsult.models.types.UTCDateTime(), nullable=False),
    sa.Column('watermark', econsult.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_turnaround_rollup_state'))
    )
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consults_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consults_updated_at'))
    op.drop_table('turnaround_rollup_state')
    op.drop_table('turnaround_day_bands')
    op.drop_table('turnaround_days')
