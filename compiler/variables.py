"""Variables coerced without graphql-core's general walk, for operations whose variables
are all leaf values (IDs, strings, numbers, JSON, enums) without defaults.

A request of the fast lane (microspace/lane/lane.py) spends about a tenth of its Python
time in `get_variable_values`, most of it re-reading the variable definitions' types. Here
they are read once per operation; each value is coerced by graphql-core's own
`coerce_input_value`, so a value is accepted exactly when graphql-core accepts it. Anything
else (a missing or invalid value, input objects, lists, defaults) takes graphql-core's
general walk, which also words the errors.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_variable_values,
)
from graphql.pyutils import Undefined
from graphql.utilities.coerce_input_value import coerce_input_value

from core.tenant_cache import TenantCache

SHAPE_BYTES = 512  # a shape's signatures point at the schema's types: small

# (name, signature, input type, non-null) per variable; None: the general walk
_Leaves = tuple[tuple[str, Any, Any, bool], ...] | None


class Variables:
    """Coerced variables per operation, as `get_variable_values` gives them."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        # the variables' shapes by tenant and (normalised document, operation name): equal
        # documents declare equal variables (core/tenant_cache.py)
        self.shapes: TenantCache[tuple[_Leaves]] = TenantCache("variables", 8192, 8 << 20)

    def coerce(
        self,
        op: OperationDefinitionNode,
        raw: dict[str, Any],
        tenant: Hashable,
        key: Hashable,
    ) -> VariableValues | list[GraphQLError]:
        """`key`: the operation's in its normalised document."""
        found = self.shapes.get(tenant, key)  # (leaves,): None is the general walk's
        if found is None:
            found = (self._read(op),)
            self.shapes.put(tenant, key, found, SHAPE_BYTES)
        leaves = found[0]
        if leaves is not None:
            fast = _coerce_leaves(leaves, raw)
            if fast is not None:
                return fast
        return get_variable_values(self.schema, op.variable_definitions or (), raw)

    def _read(self, op: OperationDefinitionNode) -> _Leaves:
        out = []
        for definition in op.variable_definitions or ():
            signature = get_variable_signature(self.schema, definition)
            if isinstance(signature, GraphQLError) or definition.default_value is not None:
                return None
            type_: Any = signature.type
            non_null = is_non_null_type(type_)
            if not is_leaf_type(type_.of_type if non_null else type_):
                return None
            out.append((signature.name, signature, type_, non_null))
        return tuple(out)


def _coerce_leaves(
    leaves: tuple[tuple[str, Any, Any, bool], ...], raw: dict[str, Any]
) -> VariableValues | None:
    """The coerced values, or None when one is missing or invalid (the general walk says
    why)."""
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    for name, signature, type_, non_null in leaves:
        value = raw.get(name, Undefined)
        if value is Undefined:
            if non_null:
                return None
            sources[name] = VariableValueSource(signature)
            continue
        sources[name] = VariableValueSource(signature, value)
        result = coerce_input_value(value, type_)
        if result is Undefined:
            return None
        coerced[name] = result
    return VariableValues(sources, coerced)
