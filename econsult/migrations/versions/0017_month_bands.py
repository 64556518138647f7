"""monthly answer bands

turnaround_month_bands: turnaround_day_bands summed per calendar month, so a long
range (the full history) finds each percentile's band from one row per month and band
instead of one per day. On SQLite the three rollup tables are stored clustered on
their keys (WITHOUT ROWID: a range of days read from the key alone); the day tables are
derived data, so they are recreated empty. The server's rollup job rebuilds the rollups
at start when they do not add up (the month rows are checked with the day rows).

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


def _band_table(name: str, key: str, *, key_last: bool = False) -> None:
    order = ('specialty', 'urgency', 'band', key) if key_last else \
        (key, 'specialty', 'urgency', 'band')
    op.create_table(name,
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('band', sa.Integer(), nullable=False),
    sa.Column(key, sa.Date(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint(*order, name=op.f(f'pk_{name}')),
    sqlite_with_rowid=False,
    )


def _days_table() -> None:
    op.create_table('turnaround_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    *(sa.Column(name, sa.Integer(), nullable=False) for name in (
        'count', 'answered', 'within', 'outcomes', 'avoided', 'usefulness_n',
        'usefulness_sum')),
    sa.PrimaryKeyConstraint('day', 'specialty', 'urgency', name=op.f('pk_turnaround_days')),
    sqlite_with_rowid=False,
    )


def upgrade() -> None:
    # By group and band first: a range of months is summed per group and band in key order.
    _band_table('turnaround_month_bands', 'month', key_last=True)
    # A few recent months (a short range's whole months) are read through this instead.
    op.create_index('ix_turnaround_month_bands_month', 'turnaround_month_bands',
                    ['month', 'n'])
    if op.get_bind().dialect.name == "sqlite":
        # Derived data, rebuilt by the server: recreated clustered on their keys.
        op.drop_table('turnaround_day_bands')
        op.drop_table('turnaround_days')
        _days_table()
        _band_table('turnaround_day_bands', 'day')
    # Rollups built before this table are rebuilt with it (reconcile sees no state).
    op.execute("DELETE FROM turnaround_rollup_state")


def downgrade() -> None:
    op.drop_table('turnaround_month_bands')
