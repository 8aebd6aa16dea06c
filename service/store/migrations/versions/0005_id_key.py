"""id key: the secret key of Patient ids, made once when ETMI_ID_KEY is not set

Revision ID: 0005
Revises: 0004a
Create Date: 2026-12-03 17:10:00.000000

Patient ids are HMAC-SHA256 of the patient's business identifier under a secret key
(``mappings.refs.patient_id``). ``ETMI_ID_KEY`` gives the key; without it the service makes a random
key on first use and keeps it in this one-row table, so ids stay the same across restarts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("id_key")
