"""monthly answer bands

turnaround_month_bands: turnaround_day_bands summed per calendar month, so a long
range (the full history) finds each percentile's band from one row per month and band
instead of one per day. Empty at first: the server's rollup job rebuilds the rollups
when they do not add up (the month rows are checked with the day rows).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('turnaround_month_bands',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('band', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'specialty', 'urgency', 'band',
                            name=op.f('pk_turnaround_month_bands'))
    )
    # Rollups built before this table are rebuilt with it (reconcile sees no state).
    op.execute("DELETE FROM turnaround_rollup_state")


def downgrade() -> None:
    op.drop_table('turnaround_month_bands')
