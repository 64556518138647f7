"""api clients, assertion uses, access tokens

FHIR API clients (SMART Backend Services): the registered client with its public JWKS
and allowed scopes, the GPs it acts for, the assertion ids already exchanged (the
primary key is the replay check) and the SHA-256 of each access token issued.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:23:33.056364
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import econsult.models.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("jwks", sqlmodel.sql.sqltypes.AutoString(length=70000), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("created_at", econsult.models.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", econsult.models.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
    )
    op.create_table(
        "api_access_tokens",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("issued_at", econsult.models.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", econsult.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_api_access_tokens_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_access_tokens")),
    )
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_access_tokens_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_api_access_tokens_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "api_assertion_uses",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("expires_at", econsult.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_api_assertion_uses_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_api_assertion_uses")),
    )
    with op.batch_alter_table("api_assertion_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_assertion_uses_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "api_client_gps",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("gp_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_api_client_gps_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gp_id"], ["users.id"], name=op.f("fk_api_client_gps_gp_id_users")
        ),
        sa.PrimaryKeyConstraint("client_id", "gp_id", name=op.f("pk_api_client_gps")),
    )


def downgrade() -> None:
    op.drop_table("api_client_gps")
    with op.batch_alter_table("api_assertion_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_assertion_uses_expires_at"))

    op.drop_table("api_assertion_uses")
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_client_id"))

    op.drop_table("api_access_tokens")
    op.drop_table("api_clients")
