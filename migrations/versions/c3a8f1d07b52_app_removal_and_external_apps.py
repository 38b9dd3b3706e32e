"""apps: when and why one was removed and its final dump; apps hosted before Wadah (external)

Revision ID: c3a8f1d07b52
Revises: c4e8a1f2d3b5
Create Date: 2026-12-07 20:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c3a8f1d07b52'
down_revision = 'c4e8a1f2d3b5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removal_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('removal_dump', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('external_url', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('external_server', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        for column in ('external_server', 'external_url', 'removal_dump', 'removal_reason', 'removed_at'):
            batch_op.drop_column(column)
