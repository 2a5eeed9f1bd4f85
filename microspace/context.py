"""The typed per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import strawberry
from starlette.requests import Request

from microspace.auth import Principal
from microspace.config import Settings
from microspace.db import Db
from policies.authz import Authorizer

if TYPE_CHECKING:
    from resolvers.loaders import Loaders


@dataclass
class Context:
    request: Request
    request_id: str
    principal: Principal
    db: Db
    loaders: Loaders
    authz: Authorizer
    settings: Settings
    # set when an unexpected error was masked: the request's transaction is rolled back
    failed: bool = False


Info = strawberry.Info[Context, None]
