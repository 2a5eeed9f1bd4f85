"""Contacts: get, list (with search), create, update, delete, import.

Over 300 lines on purpose: the contact field rules are shared by create, update, import and
subject correction, and stay beside them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.exc import IntegrityError
from strawberry.utils.str_converters import to_camel_case

from core.errors import Forbidden
from core.ids import encode_id
from models import Contact as ContactModel
from models.base import EMAIL_MAX
from privacy.subjects import normalise_email
from resolvers.contact_addresses import reads_email, suppressed, taken, unavailable
from resolvers.contact_addresses import suppressed_error as _suppressed
from resolvers.plans import limit_message
from schema.connection import Connection, OrderDirection, list_connection
from schema.contacts import (
    Contact,
    ContactCreateInput,
    ContactDeletePayload,
    ContactErrorCode,
    ContactImportInput,
    ContactImportPayload,
    ContactOrder,
    ContactOrderField,
    ContactPayload,
    ContactUpdateInput,
    ContactUserError,
)
from schema.context import Info
from store import plans
from store.contacts import (
    CONTACT_ORDER,
    forget_contact,
    search_columns,
    search_matches,
    search_pattern,
)
from store.loaders import load_by_global_id
from store.pagination import Order, parse_datetime, parse_str

MAX_IMPORT_ROWS = 1000
LIMITS = {
    "email": EMAIL_MAX,
    "full_name": 200,
    "company": 200,
    "job_title": 200,
    "phone": 50,
    "locale": 35,
}
OPTIONAL = ("full_name", "company", "job_title", "phone", "locale")
# RFC 5321: a local part of at most 64 octets, a path of at most 254; RFC 1035: labels of
# at most 63, a domain of at most 253
EMAIL_RE = re.compile(
    r"^(?=.{3,254}$)[^@\s\"(),:;<>\[\\\]]{1,64}@(?=.{1,253}$)"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-/]*$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def _error(
    code: ContactErrorCode, field: str, message: str, row: int | None = None
) -> ContactUserError:
    return ContactUserError(code=code, field=[field], message=message, row=row)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def clean_fields(
    data: dict[str, str | None], row: int | None = None
) -> tuple[dict[str, Any], list[ContactUserError]]:
    """Validate and normalise contact fields; None means "not given", "" clears a field."""
    out: dict[str, Any] = {}
    errors: list[ContactUserError] = []
    for field, raw in data.items():
        if raw is None:
            continue
        value = normalise_email(raw) if field == "email" else raw.strip()
        if _has_control(value):
            errors.append(
                _error(
                    ContactErrorCode.INVALID_CHARACTERS,
                    field,
                    f"{field} contains control characters.",
                    row,
                )
            )
        elif len(value) > LIMITS[field]:
            errors.append(
                _error(
                    ContactErrorCode.TOO_LONG,
                    field,
                    f"{field} may be at most {LIMITS[field]} characters.",
                    row,
                )
            )
        elif field == "email" and not value:
            errors.append(_error(ContactErrorCode.REQUIRED, field, "email must not be empty.", row))
        elif field == "email" and not EMAIL_RE.match(value):
            errors.append(
                _error(
                    ContactErrorCode.INVALID_EMAIL,
                    field,
                    "email is not a valid e-mail address.",
                    row,
                )
            )
        elif (
            field == "phone"
            and value
            and not (PHONE_RE.match(value) and any(c.isdigit() for c in value))
        ):
            errors.append(
                _error(
                    ContactErrorCode.INVALID_PHONE,
                    field,
                    "phone may hold digits, spaces, + ( ) - . / only.",
                    row,
                )
            )
        elif field == "locale" and value and not LOCALE_RE.match(value):
            errors.append(
                _error(
                    ContactErrorCode.INVALID_LOCALE,
                    field,
                    "locale must be a language tag such as en or de-CH.",
                    row,
                )
            )
        else:
            out[field] = value if (value or field == "email") else None
    return out, errors


def _fields(input: ContactCreateInput | ContactUpdateInput) -> dict[str, str | None]:
    return {"email": input.email, **{f: getattr(input, f) for f in OPTIONAL}}


def _duplicate(row: int | None = None) -> ContactUserError:
    return _error(
        ContactErrorCode.DUPLICATE_EMAIL,
        "email",
        "Another contact of this tenant has this e-mail address.",
        row,
    )


def search_clause(info: Info, search: str) -> ColumnElement[bool]:
    """Contact search (store/contacts.py, shared with the compiled path): only fields the
    caller may `read` in full are matched, so a masked or withheld field is never an oracle
    (a viewer cannot find a contact by e-mail)."""
    columns = search_columns(info.context.authz.can)
    if not columns:
        raise Forbidden("Searching contacts needs full read access to a name, company or e-mail.")
    return search_matches(columns, search_pattern(search))


async def load_contact(info: Info, global_id: str) -> ContactModel:
    """The contact of the caller's tenant with this ID; NOT_FOUND otherwise, whatever the reason."""
    return await load_by_global_id(info.context.loaders.contact_by_id, global_id, "Contact")


async def get_contact(info: Info, id: strawberry.ID) -> Contact:
    """One contact of the caller's tenant."""
    return Contact.from_model(await load_contact(info, id))


ORDER_COLUMNS = {
    ContactOrderField.CREATED_AT: (ContactModel.created_at, parse_datetime, None),
    ContactOrderField.UPDATED_AT: (ContactModel.updated_at, parse_datetime, None),
    # a contact without a name sorts as "": a keyset comparison with NULL would drop it
    ContactOrderField.NAME: (ContactModel.full_name, parse_str, ""),
}


def contact_order(info: Info, order_by: ContactOrder | None) -> Order:
    """The keyset order for `orderBy`; newest first when none is given."""
    if order_by is None:
        return CONTACT_ORDER
    if order_by.field is ContactOrderField.NAME and not info.context.authz.can(
        "Contact.fullName", "read"
    ):
        # the order of rows would disclose what a masked or withheld name is
        raise Forbidden("Ordering contacts by name needs full read access to Contact.fullName.")
    column, parser, null_as = ORDER_COLUMNS[order_by.field]
    return Order(
        columns=(column, ContactModel.id),
        parsers=(parser, uuid.UUID),
        descending=order_by.direction is OrderDirection.DESC,
        nulls=(null_as, None),
        tag=f"{order_by.field.value}.{order_by.direction.value}",
    )


async def list_contacts(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    search: str | None = None,
    last: int | None = None,
    before: str | None = None,
    order_by: ContactOrder | None = None,
    updated_since: Annotated[
        datetime | None,
        strawberry.argument(description="Only contacts changed at or after this instant."),
    ] = None,
) -> Connection[Contact]:
    """The tenant's contacts, newest first unless `orderBy` says otherwise, optionally
    matching `search`."""
    order = contact_order(info, order_by)
    where = [search_clause(info, search)] if search and search_pattern(search) else []
    if updated_since is not None:
        where.append(ContactModel.updated_at >= updated_since)
    return await list_connection(
        info,
        ContactModel,
        where,
        first,
        after,
        last=last,
        before=before,
        order=order,
        convert=Contact.from_model,
    )


async def _save(info: Info, row: ContactModel, operation: str, **changes: Any) -> ContactPayload:
    """Apply and flush in a savepoint so a duplicate e-mail is a user error, not a failed request."""
    try:
        # changes are applied inside: beginning a savepoint flushes what is already dirty
        async with info.context.db.savepoint():
            for field, value in changes.items():
                setattr(row, field, value)
            info.context.db.add(row)
    except IntegrityError as exc:
        if "email" not in str(exc.orig):
            raise
        return ContactPayload(user_errors=[_duplicate()])
    await info.context.db.refresh(row)
    forget_contact(info.context.loaders, row.id)
    # which fields changed, never their values: the audit log holds no personal data
    info.context.audit.record(operation, row.id, [to_camel_case(f) for f in changes])
    await info.context.emit(f"contact.{operation}d", row.id, [to_camel_case(f) for f in changes])
    return ContactPayload(contact=Contact.from_model(row))


async def create_contact(info: Info, input: ContactCreateInput) -> ContactPayload:
    """Create a contact; its e-mail address must be new to the tenant and not suppressed."""
    values, errors = clean_fields(_fields(input))
    if errors:
        return ContactPayload(user_errors=errors)
    # the plan first: answered after the address check, PLAN_LIMIT would tell a masked
    # caller that an address it was refused for is in use (an existence oracle)
    over = await plans.check(info.context.db, "contacts", 1)
    if over is not None:
        return ContactPayload(user_errors=[_plan_limit(info, over)])
    if refused := await taken(info, values["email"]):
        return refused
    return await _save(info, ContactModel(id=uuid.uuid4()), "create", **values)


def _plan_limit(info: Info, over: plans.PlanLimit) -> ContactUserError:
    return ContactUserError(
        code=ContactErrorCode.PLAN_LIMIT, field=None, message=limit_message(info, over)
    )


async def update_contact(info: Info, input: ContactUpdateInput) -> ContactPayload:
    """Change a contact's fields."""
    row = await load_contact(info, input.id)
    values, errors = clean_fields(_fields(input))
    if errors:
        return ContactPayload(user_errors=errors)
    if values.get("email") and (refused := await taken(info, values["email"], row)):
        return refused
    return await _save(info, row, "update", **values)


async def delete_contact(info: Info, id: strawberry.ID) -> ContactDeletePayload:
    """Delete a contact with its access, consent history, queued e-mail and usage events.

    Not the GDPR erasure (no suppression entry, no audit proof): that is its own operation.
    """
    row = await load_contact(info, id)
    await info.context.db.delete(row)
    forget_contact(info.context.loaders, row.id)
    info.context.audit.record("delete", row.id, [])
    await info.context.emit("contact.deleted", row.id)
    return ContactDeletePayload(deleted_contact_id=strawberry.ID(encode_id("Contact", row.id)))


def checked_fields(row: ContactModel) -> list[str]:
    return ["email", *(f for f in OPTIONAL if getattr(row, f) is not None)]


@dataclass
class _Checked:
    rows: list[dict[str, Any]]
    errors: list[ContactUserError]


async def _check_import(info: Info, input: ContactImportInput) -> _Checked:
    """Validate every row: fields, duplicates within the file and against the tenant."""
    rows: list[dict[str, Any]] = []
    errors: list[ContactUserError] = []
    first_row: dict[str, int] = {}
    for index, item in enumerate(input.contacts):
        values, row_errors = clean_fields(_fields(item), row=index)
        if item.email is None:
            row_errors.append(
                _error(ContactErrorCode.REQUIRED, "email", "email is required.", index)
            )
        errors.extend(row_errors)
        rows.append(values)
        email = values.get("email")
        if email and not row_errors:
            if email in first_row:
                errors.append(
                    _error(
                        ContactErrorCode.DUPLICATE_EMAIL,
                        "email",
                        f"The same e-mail address is in row {first_row[email]}.",
                        index,
                    )
                )
            else:
                first_row[email] = index
    if first_row and (reads_email(info) or not errors):
        stmt = select(ContactModel.email).where(ContactModel.email.in_(list(first_row)))
        clashes = [_duplicate(first_row[e]) for e in await info.context.db.scalars(stmt)]
        clashes += [_suppressed(first_row[e]) for e in await suppressed(info, list(first_row))]
        if clashes and not reads_email(info):
            # a masked caller learns neither which row nor why: no per-address oracle
            clashes = [unavailable(["contacts"])]
        errors.extend(clashes)
    errors.sort(key=lambda e: e.row if e.row is not None else -1)
    return _Checked(rows=rows, errors=errors)


async def import_contacts(info: Info, input: ContactImportInput) -> ContactImportPayload:
    """Import a list of contacts: all rows or, if any row is invalid, none."""
    if len(input.contacts) > MAX_IMPORT_ROWS:
        return ContactImportPayload(
            user_errors=[
                ContactUserError(
                    code=ContactErrorCode.TOO_MANY_ROWS,
                    field=["contacts"],
                    row=None,
                    message=f"An import may hold at most {MAX_IMPORT_ROWS} rows; split the list.",
                )
            ]
        )
    db = info.context.db
    # the plan before the addresses, as in create_contact: no existence oracle at the limit
    over = await plans.check(db, "contacts", len(input.contacts)) if input.contacts else None
    if over is not None:
        return ContactImportPayload(user_errors=[_plan_limit(info, over)])
    checked = await _check_import(info, input)
    if checked.errors:
        return ContactImportPayload(user_errors=checked.errors)
    if not checked.rows:
        return ContactImportPayload()
    # a bulk INSERT skips the ORM flush hook, so stamp the tenant here (RLS checks it too)
    values = [
        {"tenant_id": db.tenant_id, "id": uuid.uuid4(), **{f: None for f in OPTIONAL}, **r}
        for r in checked.rows
    ]
    try:
        async with db.savepoint():
            created = list(await db.scalars(insert(ContactModel).returning(ContactModel), values))
    except IntegrityError as exc:
        if "email" not in str(exc.orig):
            raise
        # another request added one of these addresses since the check: still nothing imported
        return ContactImportPayload(user_errors=[_duplicate()])
    for contact in created:
        info.context.audit.record(
            "import", contact.id, [to_camel_case(f) for f in checked_fields(contact)]
        )
    await info.context.emit("contact.created", [v["id"] for v in values])
    by_id = {c.id: c for c in created}
    contacts = [Contact.from_model(by_id[v["id"]]) for v in values]
    return ContactImportPayload(imported_count=len(contacts), contacts=contacts)
