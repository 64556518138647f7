"""answer band index

ix_consults_answer_band: answered consults by (specialty, urgency, band of time to
answer, submitted_at, seconds_to_answer), an index on the band's expression
(`econsult.turnaround.bands`). A percentile of a short range is the offset-th smallest
of one band of one group in that range: with this index the database reads exactly
those rows instead of every answer of the group in the range. Partial (answered
consults only), so a new consult's insert does not touch it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEX = "ix_consults_answer_band"
# Frozen here as written on the day; tests/turnaround/test_band_index.py checks that
# econsult.turnaround.bands still computes the same expression.
BAND = {
    "sqlite": "CASE WHEN seconds_to_answer < 21600 THEN CAST(seconds_to_answer / 600 AS INTEGER)"
              " WHEN seconds_to_answer < 259200 THEN 36 + CAST((seconds_to_answer - 21600)"
              " / 3600 AS INTEGER) ELSE 102 + CAST((seconds_to_answer - 259200) / 43200 AS"
              " INTEGER) END",
    "postgresql": "CASE WHEN seconds_to_answer < 21600 THEN CAST(floor(seconds_to_answer / 600)"
                  " AS INTEGER) WHEN seconds_to_answer < 259200 THEN 36 + CAST(floor(("
                  "seconds_to_answer - 21600) / 3600) AS INTEGER) ELSE 102 + CAST(floor(("
                  "seconds_to_answer - 259200) / 43200) AS INTEGER) END",
}


def upgrade() -> None:
    band = BAND[op.get_bind().dialect.name]
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON consults (specialty, urgency, ({band}),"
               " submitted_at, seconds_to_answer) WHERE seconds_to_answer IS NOT NULL")


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
