"""The application layer of tenant isolation: every ORM statement carries its tenant.

Row-level security in PostgreSQL is the database's own guarantee; this listener makes the
application fail loudly (instead of returning zero rows) when a tenant is missing, and keeps
query plans on the `(tenant_id, ...)` indexes.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from core.db import session_narrowing, session_tenant
from models.base import TenantScoped


class TenantScopeMissing(RuntimeError):
    """An ORM statement on a tenant table ran in a session without a tenant."""


TENANT_TABLES: set[str] = set()


def _touches_tenant_tables(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, TenantScoped) for m in state.all_mappers):
        return True
    # select(func.count()).select_from(Model) names no entity: look at the FROM clause too
    froms: list[object] = getattr(state.statement, "get_final_froms", list)()
    return any(getattr(f, "name", None) in _tenant_tables() for f in froms)


def _tenant_tables() -> set[str]:
    if not TENANT_TABLES:
        TENANT_TABLES.update(
            m.__tablename__ for m in TenantScoped.__subclasses__() if hasattr(m, "__tablename__")
        )
    return TENANT_TABLES


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement already carried the criterion
    if not _touches_tenant_tables(state):
        return
    tenant_id = session_tenant(state.session)
    if tenant_id is None:
        raise TenantScopeMissing("refusing to query a tenant table without a tenant scope")
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        ),
        # a widget or visitor sees less than its tenant (store/audience.py)
        *session_narrowing(state.session),
    )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _ctx: object, _instances: object) -> None:
    tenant_id = session_tenant(session)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if tenant_id is None:
            raise TenantScopeMissing("refusing to write a tenant row without a tenant scope")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeMissing("refusing to write a row of another tenant")
