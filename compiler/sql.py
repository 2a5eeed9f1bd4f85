"""SQL expressions that produce exactly what the resolver path serialises.

Each helper returns SQL text for one value: a Relay global ID (core/ids.py), an ISO 8601
timestamp as Python's `datetime.isoformat()` writes it, a keyset cursor, an enum's GraphQL
name, and the masks of policies/redaction.py. The response's JSON is built as text by
concatenation (`json_text`, `json_object`, `json_array`): json_build_object and json_agg
cost PostgreSQL about twice as much per row (a type lookup per argument, a copy per level).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql.base import PGDialect

_POSTGRESQL = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped

# Python's str.split() whitespace (policies/redaction.py mask_name): spelled out, because
# PostgreSQL's \s depends on the locale
_PY_WHITESPACE = (
    "\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
WHITESPACE_RUN = f"E'[{_PY_WHITESPACE}]+'"


def literal(value: str) -> str:
    """A SQL string literal (values here are names from the schema, never user input)."""
    return "'" + value.replace("'", "''") + "'"


def render(expression: ColumnElement[Any]) -> str:
    """A SQLAlchemy expression as PostgreSQL text: what the resolver path builds with
    SQLAlchemy (contact search), written over the plan's aliases and parameters."""
    return str(expression.compile(dialect=_POSTGRESQL))


def b64url(raw_text: str) -> str:
    """base64url without padding of a text's UTF-8 bytes (PostgreSQL wraps base64 lines)."""
    return (
        f"rtrim(translate(encode(convert_to({raw_text}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"
    )


def global_id(type_name: str, column: str) -> str:
    """`encode_id(type_name, uuid)`, cheaply when the encoding allows it.

    A UUID's text (hex digits and hyphens) never yields `+` or `/` in base64 once it starts
    on a 3-byte boundary, and 36 bytes need no padding: a prefix of 3n bytes is a constant
    and the rest a plain `encode`. Other prefixes take the UUID's first characters along;
    if no combination of them yields `+` or `/`, only the padding is trimmed."""
    prefix = type_name + ":"
    carry = (3 - len(prefix) % 3) % 3
    if len(prefix) + 36 <= 57:  # PostgreSQL wraps base64 lines after 57 bytes
        if carry == 0:
            head = base64.b64encode(prefix.encode()).decode()
            # textsend: the text's bytes (ASCII, the same in every client encoding) without
            # `::bytea`'s I/O round trip (text out, then bytea's escape parser); below too
            return f"{literal(head)} || encode(textsend({column}::text), 'base64')"
        heads = (prefix + "".join(c) for c in itertools.product(HEX, repeat=carry))
        if not any(set(base64.b64encode(h.encode()).decode()) & {"+", "/"} for h in heads):
            return f"rtrim(encode(textsend({literal(prefix)} || {column}::text), 'base64'), '=')"
    return b64url(f"{literal(prefix)} || {column}::text")


HEX = "0123456789abcdef"


def iso(column: str) -> str:
    """`datetime.isoformat()` of a UTC timestamptz: microseconds only when non-zero."""
    # one to_char; `.000000+` occurs only when the microseconds are zero
    return (
        f"replace(to_char(({column} AT TIME ZONE 'UTC'), "
        f"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"
    )


def enum_name(column: str) -> str:
    """The GraphQL enum name of a stored value (the schema's enums are VALUE -> value).
    Enum values are ASCII names, which `upper` maps the same in every collation; in "C" it
    takes its ASCII loop instead of the locale's wide-character round trip (1,000 block
    kinds in q2: 1.3 M instructions of PostgreSQL's 26.6 M)."""
    return f'upper({column} COLLATE "C")'


def cursor(parts: list[tuple[str, str]], tag: str | None = None) -> str | None:
    """`encode_cursor` of a keyset: a compact JSON array, base64url; parts are (kind, column).

    None for a text key: Python's JSON escapes every non-ASCII character, to_json none."""
    items = [literal(f'"{tag}"')] if tag else []  # tags are field.direction names
    for kind, column in parts:
        if kind == "text":
            return None
        if kind == "datetime":
            items.append(f"'\"' || {iso(column)} || '\"'")
        elif kind == "uuid":
            items.append(f"'\"' || {column}::text || '\"'")
        else:  # int
            items.append(f"{column}::text")
    return b64url("'[' || " + " || ',' || ".join(items) + " || ']'")


def mask_text(column: str) -> str:
    return f"CASE WHEN {column} = '' THEN '***' ELSE left({column}, 1) || '***' END"


def mask_email(column: str) -> str:
    return (
        f"CASE WHEN strpos({column}, '@') = 0 THEN {mask_text(column)} "
        f"ELSE left(split_part({column}, '@', 1), 1) || '***@' "
        f"|| substr({column}, strpos({column}, '@') + 1) END"
    )


def mask_name(column: str) -> str:
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE coalesce((SELECT string_agg(left(w, 1) "
        f"|| '***', ' ' ORDER BY n) FROM regexp_split_to_table({column}, {WHITESPACE_RUN}) "
        "WITH ORDINALITY AS _w(w, n) WHERE w <> ''), '***') END"
    )


def mask_phone(column: str) -> str:
    digits = f"regexp_replace({column}, '[^0-9]', '', 'g')"
    return (
        f"CASE WHEN length({digits}) >= 2 THEN '***' || right({digits}, 2) "
        f"WHEN {column} IS NULL THEN NULL ELSE '***' END"
    )


MASKS = {
    "user.contact.email": mask_email,
    "user.name": mask_name,
    "user.contact.phone_number": mask_phone,
}


def mask(category: str, column: str) -> str:
    return MASKS.get(category, mask_text)(column)


# -- JSON text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text known while planning (a key, punctuation, a constant value)."""

    text: str


@dataclass(frozen=True)
class Parts:
    """JSON text in pieces, kept apart until a column needs it: a parent object takes the
    pieces of its children, so constants merge and large texts are copied fewer times."""

    pieces: tuple[Piece, ...]

    def __str__(self) -> str:
        return concat(list(self.pieces))


Piece = str | Raw | Parts  # SQL of never-null JSON text, JSON text itself, or pieces
# kinds whose text is its JSON inside quotes (base64, ISO digits, GraphQL enum names):
# nothing to escape
QUOTED = ("global_id", "datetime", "cursor", "enum")


# PostgreSQL writes JSONB with spaces (`{"a": 1, "b": [1, 2]}`), the resolver path without:
# a JSON column's text comes between two of these (a control character, which JSON text
# never holds unescaped), and compiler/run.py `compact` writes it again as orjson does
MARK = "\x01"
# how a response key's mark starts and ends (Plan.keys): a control character too
KEY_MARK = "\x02"


def json_text(expr: str, kind: str, nullable: bool) -> Piece:
    """The JSON text of a SQL value as the resolver path writes it.

    `kind`: global_id, datetime, cursor and enum (characters never escaped), number
    and jsonb_text (their text is their JSON: a JSONB scalar's is compact), json (a JSON
    column: marked, MARK above), anything else through to_json."""
    if expr == "NULL":
        return Raw("null")
    if kind in QUOTED:
        if not nullable:
            return Parts((Raw('"'), f"({expr})", Raw('"')))
        return f"coalesce('\"' || {expr} || '\"', 'null')"
    if kind == "json":
        out = f"(chr(1) || ({expr})::text || chr(1))"
    elif kind in ("number", "jsonb_text"):
        out = f"({expr})::text"
    else:
        out = f"to_json({expr})::text"
    return f"coalesce({out}, 'null')" if nullable else out


def json_nullable(expr: str) -> Piece:
    """JSON text from a subquery that may yield no row (null)."""
    return Raw("null") if expr == "NULL" else f"coalesce({expr}, 'null')"


def _flat(pieces: list[Piece] | tuple[Piece, ...], out: list[str], raw: list[str]) -> None:
    for piece in pieces:
        if isinstance(piece, Parts):
            _flat(piece.pieces, out, raw)
        elif isinstance(piece, Raw):
            raw.append(piece.text)
        else:
            if raw:
                out.append(literal("".join(raw)))
                raw.clear()
            out.append(piece)


def _tree(terms: list[str]) -> str:
    # `||` copies both sides: a balanced tree copies each piece log(n) times, not up to n
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_tree(terms[:half])} || {_tree(terms[half:])})"


def concat(pieces: list[Piece]) -> str:
    """One SQL text expression; adjacent constants merge into one literal."""
    out: list[str] = []
    raw: list[str] = []
    _flat(pieces, out, raw)
    if raw:
        out.append(literal("".join(raw)))
    return _tree(out) if out else "''"


def json_object(pairs: list[tuple[str, Piece]]) -> Parts:
    """An object's JSON text, keys in order (GraphQL names and aliases: nothing to escape)."""
    pieces: list[Piece] = [Raw("{")]
    for n, (key, value) in enumerate(pairs):
        pieces.append(Raw(("," if n else "") + '"' + key + '":'))
        pieces.append(value)
    pieces.append(Raw("}"))
    return Parts(tuple(pieces))


def json_array(items: str) -> Parts:
    """The JSON array of a `string_agg(item, ',')`, which is NULL over no rows."""
    return Parts((Raw("["), f"coalesce({items}, '')", Raw("]")))
