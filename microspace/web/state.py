"""What the application shares across requests, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

import casbin
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.config import Settings
from core.metrics import Metrics
from files.storage import DEFAULT_DIR, LocalStorage, Storage
from policies.authz import TenantPolicies
from privacy.erasure import StepHook


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    enforcer: casbin.Enforcer
    tenant_policies: TenantPolicies
    # files (files/storage.py): a directory or an S3 bucket, per the settings
    storage: Storage = field(default_factory=lambda: LocalStorage(DEFAULT_DIR))
    metrics: Metrics = field(default_factory=Metrics)
    # called after each committed erasure step; tests inject a crash with it
    erasure_after_step: StepHook | None = None
