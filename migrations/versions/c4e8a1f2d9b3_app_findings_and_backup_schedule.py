"""apps: their backup schedule (hours, 24 unless set); the files their agents quarantined or reported

Revision ID: c4e8a1f2d9b3
Revises: c5e2a7f31d04
Create Date: 2026-12-07 20:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c4e8a1f2d9b3'
down_revision = 'c5e2a7f31d04'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backup_hours', sa.Integer(), nullable=False,
                                      server_default=sa.text('24')))
    op.create_table(
        'app_findings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.String(length=64), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('served_path', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('rule', sa.String(length=255), nullable=False),
        sa.Column('engine', sa.String(length=64), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('handled_by_id', sa.Integer(), nullable=True),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_findings_app_id_apps'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'],
                                name=op.f('fk_app_findings_handled_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_findings')),
        sa.UniqueConstraint('app_id', 'agent_id', name=op.f('uq_app_findings_app_id')),
    )
    with op.batch_alter_table('app_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_findings_app_id'), ['app_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('app_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_findings_app_id'))
    op.drop_table('app_findings')
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('backup_hours')
