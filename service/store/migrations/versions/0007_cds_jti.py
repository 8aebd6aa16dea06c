"""cds_jti: the CDS Client JWTs already accepted, shared by every process of one database

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03 20:10:00.000000

A CDS Client JWT (``iss``, ``jti``) is accepted once: the row is kept until the JWT's ``exp`` so a replay
on another gunicorn process or host is refused (``service/store/cds_jti.py``); expired rows are purged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_jti",
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti"),
    )
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jti_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_jti_expires_at"))
    op.drop_table("cds_jti")
