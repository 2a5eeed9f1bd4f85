"""Cost analysis before execution: pages multiply their subtree."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.pyutils import Undefined
from graphql.utilities import coerce_input_value, value_from_ast

from core.limits.rules import Limits

PAGE_ARGUMENTS = ("first", "last")


def page_variables(variables: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """The variables that can change a document's cost, for a cache of costs by document.

    Only a number (`100`, `100.0`, `1e2`) or null can become a page size: graphql-core
    coerces no other JSON value to an Int. `100.0 == 100` in Python, so both share a key
    and a cost, as they share a page size; `true == 1` too, but a boolean is no Int, so it
    stays out. Defaults are in the document text, itself part of the key.
    """
    return tuple(
        (k, v)
        for k, v in (variables or {}).items()
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
    )


class CostAnalysis:
    """Cost of a document: object 2, scalar 1, a field with `first` multiplies its subtree.

    Other list fields multiply by the default page size; the list fields of a connection
    (`edges`) are already counted by its `first`. Also counts the fields the document
    expands to, and the nodes (list entries) a response can hold: nested lists multiply.
    Fragments are costed once per (type, context) in each operation: repeated spreads
    cannot make this explode, and the expanded count lets us refuse such documents before
    validation (whose fragment walks are not memoised) ever sees them.

    A page size given by a variable counts as execution will see it: coerced as
    graphql-core coerces it, or the operation's default when the variable is not given.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operations = [
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        self.memo: dict[tuple[str, str, bool], tuple[int, int, int]] = {}
        self.active: set[str] = set()
        # the operation being costed: a variable's value depends on its definition there
        self.operation: OperationDefinitionNode | None = None

    def total(self) -> tuple[int, int]:
        """(cost, expanded field count) of every operation in the document."""
        cost, fields, _ = self.totals()
        return cost, fields

    def totals(self) -> tuple[int, int, int]:
        """(cost, expanded field count, nodes) of every operation in the document."""
        cost = fields = nodes = 0
        for operation in self.operations:
            # fragments are memoised per operation: each has its own variable defaults
            self.operation, self.memo = operation, {}
            root = self.schema.get_root_type(operation.operation)
            c, f, n = self.selections(operation.selection_set, root, False)
            cost, fields, nodes = cost + c, fields + f, nodes + n
        return cost, fields, nodes

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, in_connection: bool
    ) -> tuple[int, int, int]:
        cost = fields = nodes = 0
        if selection_set is None:
            return 0, 0, 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                c, f, n = self.field(selection, parent, in_connection)
            elif isinstance(selection, InlineFragmentNode):
                target = self.type_of(selection, parent)
                c, f, n = self.selections(selection.selection_set, target, in_connection)
            elif isinstance(selection, FragmentSpreadNode):
                c, f, n = self.spread(selection.name.value, parent, in_connection)
            else:  # pragma: no cover
                continue
            cost, fields, nodes = cost + c, fields + f, nodes + n
        return cost, fields, nodes

    def spread(self, name: str, parent: Any, in_connection: bool) -> tuple[int, int, int]:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:  # unknown or circular: validation says so
            return 0, 0, 0
        target = self.type_of(fragment, parent)
        key = (name, getattr(target, "name", ""), in_connection)
        if key not in self.memo:
            self.active.add(name)
            self.memo[key] = self.selections(fragment.selection_set, target, in_connection)
            self.active.discard(name)
        return self.memo[key]

    def type_of(self, node: InlineFragmentNode | FragmentDefinitionNode, parent: Any) -> Any:
        if node.type_condition is None:
            return parent
        return self.schema.get_type(node.type_condition.name.value) or parent

    def field(self, node: FieldNode, parent: Any, in_connection: bool) -> tuple[int, int, int]:
        name = node.name.value
        base = 2 if node.selection_set is not None else 1
        definition = None
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            definition = parent.fields.get(name)
        if name.startswith("__") or definition is None:
            # meta fields cost nothing (bounded by the schema; introspection is for trusted
            # callers); unknown fields fail validation, but still count as expanded fields
            c, f, n = self.selections(node.selection_set, None, False)
            return (0 if name.startswith("__") else base + c), 1 + f, n
        page = self.page_size(node, definition)
        listed = True
        if page is not None:
            # max(.., 1): `first: 0` must not hide a subtree from the count
            multiplier = max(page, 1)
        elif is_list_type(get_nullable_type(definition.type)) and not in_connection:
            multiplier = self.limits.default_page_size
        else:
            multiplier, listed = 1, False
        target = get_named_type(definition.type)
        c, f, n = self.selections(node.selection_set, target, page is not None)
        # a page (or list) of entries, each holding its own nested entries
        nodes = multiplier * (1 + n) if listed else n
        return multiplier * (base + c), 1 + f, nodes

    def page_size(self, node: FieldNode, definition: Any) -> int | None:
        """The page size a paginated field will use; the same rules as `page_request`."""
        names = [a for a in PAGE_ARGUMENTS if a in definition.args]
        if not names:
            return None
        size = None
        given = names[0]  # the argument the size came from, named in the error
        for argument in node.arguments or ():
            if argument.name.value not in names:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                size, given = int(value.value), argument.name.value
            elif isinstance(value, VariableNode):
                coerced = self.variable(value.name.value, definition.args[argument.name.value])
                if isinstance(coerced, int):
                    size, given = coerced, argument.name.value
        if size is None:
            return self.limits.default_page_size
        if size < 0:
            raise GraphQLError(
                f"`{given}` must not be negative.",
                node,
                extensions={"code": "BAD_USER_INPUT", "argument": given},
            )
        if size > self.limits.max_page_size:
            raise GraphQLError(
                f"`{given}` may be at most {self.limits.max_page_size}; "
                "page through larger lists with `after`.",
                node,
                extensions={
                    "code": "PAGE_SIZE_LIMIT",
                    "argument": given,
                    "limit": self.limits.max_page_size,
                },
            )
        return size

    def variable(self, name: str, argument: Any) -> Any:
        """A variable's value as execution will see it: graphql-core's coercion (`100.0` is
        the Int 100) of the value given, else the operation's default for it. A value that
        does not coerce fails the request before it runs: it counts as not given."""
        if name in self.variables:
            value = coerce_input_value(self.variables[name], argument.type)
            return None if value is Undefined else value
        for definition in (self.operation.variable_definitions or ()) if self.operation else ():
            if definition.variable.name.value == name and definition.default_value is not None:
                value = value_from_ast(definition.default_value, argument.type)
                return None if value is Undefined else value
        return None
