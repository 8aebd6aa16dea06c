"""audit events: outcome, patient and the FHIR AuditEvent of each audited interaction

Revision ID: 0004a
Revises: 0003
Create Date: 2026-12-03 17:00:00.000000

The audit trail records reads, searches and denials besides writes: ``outcome`` (AuditEvent.outcome:
0 success, 4 denied), ``patient_id`` (the patient entity, indexed for per-patient review), ``event``
(the FHIR R4 AuditEvent as recorded) and a nullable ``resource_id`` (a search names no single resource).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004a"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=2), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("patient_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event", sa.JSON(), nullable=True))
        batch_op.alter_column("resource_id", existing_type=sa.String(length=255), nullable=True)
        batch_op.create_index("ix_audit_patient", ["patient_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_patient")
        batch_op.alter_column("resource_id", existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column("event")
        batch_op.drop_column("patient_id")
        batch_op.drop_column("outcome")
