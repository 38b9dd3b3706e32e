"""jobs: their worker and deadline; workers: one row per worker process with its heartbeat

Revision ID: 3d8e2f6a9b41
Revises: c3a8f1d07b52
Create Date: 2026-12-07 19:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '3d8e2f6a9b41'
down_revision = 'c3a8f1d07b52'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'workers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_beat_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workers')),
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_worker_id'), ['worker_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_worker_id'))
        batch_op.drop_column('deadline_at')
        batch_op.drop_column('worker_id')
    op.drop_table('workers')
