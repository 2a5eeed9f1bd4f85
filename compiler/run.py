"""Running a plan: one statement, its JSON text passed through, redactions and audit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from graphql.pyutils import Path

from compiler.shapes import WITHHELD, Inputs, Plan, Shape
from compiler.sql import KEY_MARK, MARK
from core.errors import NotFound
from policies.merge import CATEGORIES


def report(
    shape: Shape,
    value: Any,
    path: Path,
    out: list[tuple[Path, str]],
    errors: list[GraphQLError],
    keys: dict[str, str] | None = None,
) -> None:
    """The withheld fields under `value` (an object), as the redaction extension lists them,
    and the errors of fields that fail as they start (denied, bad page arguments), as
    graphql-core reports them. `keys`: the response keys of a plan's marks (Plan.keys)."""
    if not isinstance(value, dict):
        return
    for kind, marked, detail in shape.items:
        key = marked if keys is None else keys.get(marked, marked)
        if kind == "redacted":
            out.append((Path(path, key, None), detail))
        elif kind == "merge":
            # the groups a body's merge fields withheld (compiler/objects.py),
            # reported at each field giving the body
            held = value.pop(key, None)
            fields = [at if keys is None else keys.get(at, at) for at in detail] if held else []
            for group in held.split(",") if held else ():
                out.extend((Path(path, at, None), CATEGORIES[group]) for at in fields)
        elif kind == "error":
            exc, nodes = detail
            errors.append(_located(exc, nodes, Path(path, key, None).as_list()))
        elif kind == "object" and detail.fails and value.get(key) is not None:
            value[key] = None  # a non-null field below failed: null here, with its errors
            failed(detail, Path(path, key, None), errors)
        elif kind in ("object", "connection"):
            report(detail, value.get(key), Path(path, key, None), out, errors, keys)
        elif kind in ("edges", "list"):
            base = Path(path, key, None)
            for index, edge in enumerate(value.get(key) or []):
                report(detail, edge, Path(base, index, None), out, errors, keys)


def failed(shape: Shape, path: Path, errors: list[GraphQLError]) -> None:
    """The errors of an object nulled by a failing non-null field (Shape.fails)."""
    for rest, exc, nodes in shape.fails or ():
        errors.append(_located(exc, nodes, [*path.as_list(), *rest]))


def _located(exc: Exception, nodes: list[Any], where: list[str | int]) -> GraphQLError:
    return GraphQLError(str(exc), nodes, path=where, original_error=exc)


def compact(text: str) -> str:
    """JSON text with its JSON columns' texts (between marks, compiler/sql.py MARK)
    written again compactly, as the resolver path writes them: one parse for all."""
    parts = text.split(MARK)
    values = orjson.loads("[" + ",".join(parts[1::2]) + "]")
    parts[1::2] = [orjson.dumps(v).decode() for v in values]
    return "".join(parts)


def rekey(text: str, keys: dict[str, str]) -> str:
    """JSON text with the marks of a plan's response keys (Plan.keys) replaced by the
    request's aliases: a mark's control character is escaped in any value's JSON text."""
    if KEY_MARK not in text:
        return text
    for mark, alias in keys.items():
        text = text.replace(mark, alias)
    return text


def params(plan: Plan, tenant_id: uuid.UUID | None, inputs: Inputs) -> list[Any]:
    """The statement's parameters; raises Unsupported or an API error to fall back."""
    for check in plan.checks:
        check(inputs)
    return [tenant_id, *(p(inputs) for p in plan.params)]


@dataclass
class Answer:
    data: dict[str, Any] | None
    errors: list[GraphQLError]
    redactions: list[tuple[Path, str]]
    # the audited reads, as the statement lists them: `subject|field,field;subject|...`
    # per root (core/audit.py AuditBuffer.read_items)
    reads: list[str]


def assemble(
    plan: Plan,
    row: Any,
    passthrough: bool = True,
    lookups: dict[str, Exception] | None = None,
) -> Answer | None:
    """The response (JSON text kept as is unless redactions or errors need a walk), the
    redactions and the audited reads; None (the resolver path answers) when a root is
    missing."""
    data: dict[str, Any] = {}
    answer = Answer(data, [], [], [])
    fatal = _denied(plan, answer.errors)
    if fatal is not None:
        return Answer(None, [*answer.errors, fatal], [], [])
    column = 0
    keys = plan.keys
    for root in plan.roots:
        key = root.key if keys is None else keys.get(root.key, root.key)
        if root.denied is not None:
            data[key] = None
            continue
        if root.typename is not None:
            data[key] = root.typename
            continue
        text, aud = row[column], row[column + 1]
        column += 2
        if text is not None and MARK in text:
            text = compact(text)
        if text is not None and keys is not None:
            text = rekey(text, keys)
        shape = root.shape
        if root.shapes is not None:
            # `node(id)`: the shape of the type its ID named (a third column)
            chosen = row[column]
            column += 1
            shape = (root.shapes[chosen] or None) if chosen is not None else None
        if text is None:
            if root.lookup is None:
                return None  # a non-null root would null the whole response: not planned
            # a lookup that found nothing (or had an undecodable ID) is null, with its error
            exc = (lookups or {}).get(root.key) or NotFound()
            answer.errors.append(_located(exc, root.lookup, [key]))
            data[key] = None
            continue
        if shape is not None and WITHHELD not in text and shape.merge_only():
            shape = None  # no merge value withheld: nothing to report, nothing to walk
        if shape is not None and shape.fails:
            data[key] = None
            failed(shape, Path(None, key, None), answer.errors)
            continue
        if shape is not None or not passthrough:
            value = orjson.loads(text)
            if shape is not None:
                at = Path(None, key, None)
                report(shape, value, at, answer.redactions, answer.errors, keys)
            data[key] = value
        else:
            data[key] = orjson.Fragment(text)
        if root.audited and aud:
            answer.reads.append(aud)
    return answer


def _denied(plan: Plan, errors: list[GraphQLError]) -> GraphQLError | None:
    """The errors of denied roots: they fail as their resolvers start, in field order,
    before any SQL answers. The first non-null one is returned: it nulls the whole
    response (the planner leaves it no siblings)."""
    fatal: GraphQLError | None = None
    for root in plan.roots:
        if root.denied is None:
            continue
        refused, nodes = root.denied
        error = _located(refused(), nodes, [root.key])
        if root.nullable:
            errors.append(error)
        elif fatal is None:
            fatal = error
    return fatal
