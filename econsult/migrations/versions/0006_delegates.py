"""delegates: who works for which GP, and who sent each consult

`delegate_links` holds the admin's links between a delegate (clinic staff) and the GPs
they work for. `consults.submitted_by` records who sent a consult: the GP, or a delegate
on the GP's behalf (the GP stays `gp_id`, the responsible clinician). Consults sent
before this revision keep NULL there, read as "the GP".

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import econsult.models.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delegate_links",
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("gp_id", sa.Integer(), nullable=False),
        sa.Column("created_at", econsult.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["delegate_id"], ["users.id"],
                                name=op.f("fk_delegate_links_delegate_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["gp_id"], ["users.id"],
                                name=op.f("fk_delegate_links_gp_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delegate_id", "gp_id", name=op.f("pk_delegate_links")),
    )
    with op.batch_alter_table("delegate_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delegate_links_gp_id"), ["gp_id"], unique=False)
    with op.batch_alter_table("consults", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_consults_submitted_by_users"), "users",
                                    ["submitted_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("consults", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_consults_submitted_by_users"),
                                 type_="foreignkey")
        batch_op.drop_column("submitted_by")
    with op.batch_alter_table("delegate_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delegate_links_gp_id"))
    op.drop_table("delegate_links")
