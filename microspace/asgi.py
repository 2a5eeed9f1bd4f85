"""ASGI entry for a process manager: `uvicorn --factory microspace.asgi:create`.

Settings come from the environment (core/config.py); migrations are not run here (run
`microspace migrate` first), so any number of server processes can start at once.
"""

from __future__ import annotations

from starlette.applications import Starlette

from core.config import load_settings
from microspace.app import create_app


def create() -> Starlette:
    """The application, configured from the environment."""
    return create_app(load_settings())
