"""Web Panel of each app: uploaded versions, encrypted environment variables and resource samples

Revision ID: 40d922bad09f
Revises: 9c0c7a478c9e
Create Date: 2026-11-23 01:05:50.159704
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '40d922bad09f'
down_revision = '9c0c7a478c9e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_env_vars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_env_vars_app_id_apps')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_app_env_vars_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_env_vars')),
    sa.UniqueConstraint('app_id', 'name', name=op.f('uq_app_env_vars_app_id'))
    )
    with op.batch_alter_table('app_env_vars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_env_vars_app_id'), ['app_id'], unique=False)

    op.create_table('app_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cpu_percent', sa.Double(), nullable=False),
    sa.Column('memory_bytes', sa.BigInteger(), nullable=False),
    sa.Column('memory_limit_bytes', sa.BigInteger(), nullable=False),
    sa.Column('pids', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_metrics_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_metrics'))
    )
    with op.batch_alter_table('app_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_app_metrics_app_id_at', ['app_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_metrics_at'), ['at'], unique=False)

    op.create_table('app_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('artifact_sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scan_report_id', sa.Integer(), nullable=True),
    sa.Column('release_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_uploads_app_id_apps')),
    sa.ForeignKeyConstraint(['artifact_sha256'], ['artifacts.sha256'], name=op.f('fk_app_uploads_artifact_sha256_artifacts')),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_app_uploads_release_id_releases')),
    sa.ForeignKeyConstraint(['scan_report_id'], ['scan_reports.id'], name=op.f('fk_app_uploads_scan_report_id_scan_reports')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_app_uploads_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_uploads'))
    )
    with op.batch_alter_table('app_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_uploads_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_uploads_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('app_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_uploads_status'))
        batch_op.drop_index(batch_op.f('ix_app_uploads_app_id'))

    op.drop_table('app_uploads')
    with op.batch_alter_table('app_metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_metrics_at'))
        batch_op.drop_index('ix_app_metrics_app_id_at')

    op.drop_table('app_metrics')
    with op.batch_alter_table('app_env_vars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_env_vars_app_id'))

    op.drop_table('app_env_vars')
