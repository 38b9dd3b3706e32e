"""the working calendar (working days and hours, holidays, cuti bersama) and each step's working deadline

Revision ID: c5e2a7f31d04
Revises: 3d8e2f6a9b41
Create Date: 2026-12-07 20:40:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c5e2a7f31d04'
down_revision = '3d8e2f6a9b41'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'working_days',
        sa.Column('weekday', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('opens_at', sa.Time(), nullable=False),
        sa.Column('closes_at', sa.Time(), nullable=False),
        sa.PrimaryKeyConstraint('weekday', name=op.f('pk_working_days')),
    )
    op.create_table(
        'holidays',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_holidays')),
        sa.UniqueConstraint('day', name=op.f('uq_holidays_day')),
    )
    with op.batch_alter_table('request_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('request_steps', schema=None) as batch_op:
        batch_op.drop_column('due_at')
    op.drop_table('holidays')
    op.drop_table('working_days')
