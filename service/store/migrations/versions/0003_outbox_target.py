"""outbox target: one row per EHR target

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000

``outbox.target`` names the EHR target of a row (NULL: every target configured when it is sent, which
is how the rows written before this migration behave). The claim orders rows per (patient, target):
the index on (patient_key, target, id) serves that check and replaces the index on patient_key alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_patient_target", ["patient_key", "target", "id"], unique=False)
        batch_op.drop_index("ix_outbox_patient_key")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_patient_key", ["patient_key"], unique=False)
        batch_op.drop_index("ix_outbox_patient_target")
        batch_op.drop_column("target")
