"""`microspace plan-set`: the operator sets a tenant's plan and its limits."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from core.config import Settings
from core.db import owner_db
from microspace.commands.tenants import OperatorError
from models import Tenant, TenantPlan
from models.plan import RESOURCES

MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


async def set_plan(
    owner_url: URL,
    tenant: str,
    name: str,
    limits: dict[str, int | None],
    *,
    file_bytes: int | None = None,
    media_types: list[str] | None = None,
) -> dict[str, Any]:
    try:
        tenant_id = uuid.UUID(tenant)
    except ValueError:
        raise OperatorError(f"not a tenant id: {tenant!r}") from None
    name = name.strip()
    if not name or len(name) > 64:
        raise OperatorError("the plan name must be 1 to 64 characters")
    bad = [f"--{r.replace('_', '-')}" for r, v in limits.items() if v is not None and v < 0]
    if file_bytes is not None and file_bytes < 0:
        bad.append("--file-bytes")
    if bad:
        raise OperatorError(f"limits must not be negative: {', '.join(bad)}")
    types = sorted({t.strip().lower() for t in media_types}) if media_types else None
    wrong = [t for t in types or () if not MEDIA_TYPE.fullmatch(t)]
    if wrong:
        raise OperatorError(f"not a media type (type/subtype): {wrong[0]!r}")
    async with owner_db(owner_url, tenant_id) as db:
        if await db.scalar(select(Tenant.id).where(Tenant.id == tenant_id)) is None:
            raise OperatorError(f"no tenant {tenant_id}")
        plan = await db.scalar(select(TenantPlan))
        if plan is None:
            plan = TenantPlan(id=uuid.uuid4())
            db.add(plan)
        plan.name = name
        for resource, value in limits.items():
            setattr(plan, f"max_{resource}", value)
        plan.max_file_bytes = file_bytes
        plan.allowed_media_types = types
        await db.flush()
    files = {"max_file_bytes": file_bytes, "allowed_media_types": types}
    return {"tenant_id": str(tenant_id), "plan": name, "limits": limits, "files": files}


# how the help names a resource where its flag says it badly
NAMES = {"api_keys": "API keys", "emails_per_month": "e-mails a month"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="The tenant's id (a UUID).")
    parser.add_argument("--name", required=True, help="The plan's name, e.g. starter.")
    for resource in RESOURCES:
        flag = resource.replace("_", "-")
        what = NAMES.get(resource, flag.replace("-", " "))
        parser.add_argument(
            f"--{flag}", type=int, help=f"The most {what} allowed (omitted: no limit)."
        )
    parser.add_argument(
        "--file-bytes",
        type=int,
        help="The largest file, in bytes (omitted: MICROSPACE_MAX_FILE_BYTES).",
    )
    parser.add_argument(
        "--media-type",
        action="append",
        dest="media_types",
        help="A media type the tenant may upload, such as image/png; repeat for more "
        "(omitted: the defaults docs/files.md lists).",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    limits = {r: getattr(args, r) for r in RESOURCES}
    done = set_plan(
        settings.owner_url(),
        args.tenant,
        args.name,
        limits,
        file_bytes=args.file_bytes,
        media_types=args.media_types,
    )
    print(json.dumps(asyncio.run(done)))
    return 0
