"""Background jobs, one module per domain: requests (the SOP's scan and deploy), releases (new versions
uploaded through the Web Panel), apps (what an app's Web Panel asks of its host), infra (hosts and
zones) and notices (email when a step opens, runs late, or a release goes live or fails).

Importing this package registers every task and periodic check with the queue.
"""
from __future__ import annotations

from panel.tasks import apps, infra, notices, releases, requests
from panel.tasks.notices import init_app

__all__ = ["apps", "infra", "init_app", "notices", "releases", "requests"]
