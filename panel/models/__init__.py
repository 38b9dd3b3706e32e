"""The domain, as SQLAlchemy models. Import models from here."""
from panel.models.accounts import (
    ApiToken,
    AppAccount,
    LoginThrottle,
    Opd,
    RecoveryCode,
    Role,
    RoleKey,
    User,
    user_roles,
)
from panel.models.audit import AuditEvent
from panel.models.calendar import Holiday, HolidayKind, WorkingDay
from panel.models.hosting import OPEN_STATUSES, Attachment, AttachmentKind, HostingRequest, RequestStatus
from panel.models.infra import App, AppStatus, Host, HostStatus, Release, ReleaseStatus, Stack
from panel.models.jobs import Job, JobStatus, Worker
from panel.models.network import IpAllocation, IpPool, Zone
from panel.models.operations import AppEnvVar, AppMetric, AppUpload, UploadStatus
from panel.models.scans import Artifact, ScanKind, ScanReport, Verdict
from panel.models.workflow import Comment, Disposition, RequestStep, SopTemplateVersion

__all__ = [
    "ApiToken", "App", "AppAccount", "AppStatus", "Artifact", "Attachment", "AttachmentKind", "AuditEvent",
    "Comment", "Disposition", "Host", "HostStatus", "HostingRequest", "IpAllocation", "IpPool",
    "Job", "JobStatus", "LoginThrottle", "Opd", "RecoveryCode", "Release", "ReleaseStatus", "RequestStatus",
    "RequestStep", "Role", "RoleKey", "ScanKind", "ScanReport", "SopTemplateVersion", "Stack", "User",
    "Verdict", "Worker", "Zone", "user_roles", "OPEN_STATUSES",
    "Holiday", "HolidayKind", "WorkingDay", "AppEnvVar", "AppMetric", "AppUpload", "UploadStatus",
]
