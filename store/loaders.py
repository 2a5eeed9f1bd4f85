"""The per-request DataLoaders: a registry each domain adds its loaders to, built lazily.

A domain's data module (store/spaces.py, store/contacts.py, ...) registers each loader under
the name resolvers and types use (`loaders.space_by_id`); a request builds only the loaders
it touches. A batch function returns results aligned with its keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from core.db import Db
from core.errors import NotFound
from core.ids import decode_id

R = TypeVar("R")
LoaderFactory = Callable[[Db], DataLoader[Any, Any]]
# Loaders' attribute name -> how to build it for one request's Db
REGISTRY: dict[str, LoaderFactory] = {}


def register(name: str) -> Callable[[LoaderFactory], LoaderFactory]:
    """Register a loader factory under `name`; one name, one loader."""

    def add(factory: LoaderFactory) -> LoaderFactory:
        if name in REGISTRY:
            raise ValueError(f"loader {name!r} is registered twice")
        REGISTRY[name] = factory
        return factory

    return add


def register_by_id(name: str, model: type[Any]) -> None:
    """The common case: rows of `model` by primary key, None for an unknown key."""
    register(name)(lambda db: DataLoader(lambda ids: rows_by_id(db, model, ids)))


async def rows_by_id(db: Db, model: type[Any], ids: Sequence[uuid.UUID]) -> list[Any]:
    # populate_existing: a mutation earlier in the request may have moved rows in SQL
    stmt = select(model).where(model.id.in_(ids)).execution_options(populate_existing=True)
    rows = await db.scalars(stmt)
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


class Loaders:
    """One request's loaders, each built on first use from the registry."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def __getattr__(self, name: str) -> DataLoader[Any, Any]:
        factory = REGISTRY.get(name)
        if factory is None:
            raise AttributeError(f"no loader named {name!r} is registered")
        made = factory(self._db)
        setattr(self, name, made)  # cached: later reads skip __getattr__
        return made

    def forget(self, key: Any, *names: str) -> None:
        """Drop one key from the named loaders, after a mutation changed it."""
        for name in names:
            forget(getattr(self, name), key)

    def reset(self, *names: str) -> None:
        """Drop everything the named loaders cached (pages whose keys embed other values)."""
        for name in names:
            getattr(self, name).clear_all()


async def load_by_global_id(
    loader: DataLoader[uuid.UUID, R | None], global_id: str, type_name: str
) -> R:
    """The row of the caller's tenant with this global ID; NOT_FOUND otherwise, whatever the
    reason (another tenant's row, a deleted one, a random ID all answer the same)."""
    row = await loader.load(decode_id(global_id, type_name))
    if row is None:
        raise NotFound()
    return row


def forget(loader: DataLoader[Any, Any], key: Any) -> None:
    """Drop one cached key; DataLoader.clear raises for a key it never loaded."""
    try:
        loader.clear(key)
    except KeyError:
        pass
