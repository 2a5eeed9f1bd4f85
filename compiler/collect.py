"""Field collection as graphql-core does it, for the subset the compiler plans.

Fields are grouped by response key in first-seen order; fragments apply when their type
condition matches; `@skip` / `@include` are honoured; any other directive (`@defer`, ...)
makes the operation unsupported.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    value_from_ast,
)
from graphql.type import GraphQLField, GraphQLObjectType, is_abstract_type

Fields = dict[str, list[FieldNode]]
Getter = Callable[[dict[str, Any]], Any]


class Unsupported(Exception):
    """This operation (or these inputs) is answered by the resolver path."""


class Collector:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(self, type_name: str, nodes: list[FieldNode] | list[SelectionSetNode]) -> Fields:
        """The sub-fields of `nodes` (fields, or selection sets) on object type `type_name`."""
        out: Fields = {}
        for node in nodes:
            selection_set = node if isinstance(node, SelectionSetNode) else node.selection_set
            if selection_set is not None:
                self._visit(type_name, selection_set, out, set())
        return out

    def _visit(
        self, type_name: str, selection_set: SelectionSetNode, out: Fields, seen: set[str]
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._matches(type_name, condition.name.value):
                    self._visit(type_name, selection.selection_set, out, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in seen or fragment is None:
                    continue
                seen.add(name)
                if self._matches(type_name, fragment.type_condition.name.value):
                    self._visit(type_name, fragment.selection_set, out, seen)
            else:
                raise Unsupported("selection")

    def _matches(self, type_name: str, condition: str) -> bool:
        if condition == type_name:
            return True
        abstract = self.schema.get_type(condition)
        concrete = self.schema.get_type(type_name)
        if abstract is None or not is_abstract_type(abstract):
            return False
        assert isinstance(concrete, GraphQLObjectType)
        return self.schema.is_sub_type(abstract, concrete)

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise Unsupported(f"directive @{name}")
            value = self._flag(directive)
            if (name == "skip" and value) or (name == "include" and not value):
                return False
        return True

    def _flag(self, directive: Any) -> bool:
        for argument in directive.arguments or ():
            if argument.name.value != "if":
                continue
            if isinstance(argument.value, BooleanValueNode):
                return bool(argument.value.value)
            if isinstance(argument.value, VariableNode):
                return bool(self.variables.get(argument.value.name.value))
        raise Unsupported("directive without `if`")


class Parametric:
    """A plan being made for every document of one shape (compiler/cache.py `_shared`):
    the literals at `slots` (ids of their nodes) are read from the variables under their
    slot's key, as statement parameters. Such a plan is shared only if every literal was
    read that way (`used`) and none while planning (`read`: the plan depends on its value)."""

    def __init__(self, slots: dict[int, str]) -> None:
        self.slots = slots
        self.used: set[str] = set()
        self.read: set[str] = set()

    def getter(self, slot: str, constant: Any) -> Getter:
        def get(v: dict[str, Any]) -> Any:
            if slot in v:
                return v[slot]
            if PARAMETRIC.get() is self:  # while planning
                self.read.add(slot)
            return constant

        return get

    def holds(self, node: Any) -> bool:
        return id(node) in self.slots


PARAMETRIC: ContextVar[Parametric | None] = ContextVar("parametric", default=None)


def argument(field_def: GraphQLField, node: FieldNode, name: str) -> Getter:
    """A function of the coerced variables giving one argument's value (None when omitted)."""
    arg_def = field_def.args.get(name)
    if arg_def is None:
        return lambda _v: None
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        if isinstance(arg.value, VariableNode):
            var = arg.value.name.value
            return lambda v: _plain(v.get(var))
        constant = _plain(value_from_ast(arg.value, arg_def.type, None))
        making = PARAMETRIC.get()
        slot = making.slots.get(id(arg.value)) if making is not None else None
        if slot is not None and making is not None:
            making.used.add(slot)
            return making.getter(slot, constant)
        return lambda _v: constant
    default = arg_def.default_value
    constant = None if default is None or repr(default) == "Undefined" else _plain(default)
    return lambda _v: constant


def _plain(value: Any) -> Any:
    """Enum members as their stored value; everything else as is."""
    return getattr(value, "value", value) if hasattr(value, "name") else value


def object_type(field_def: GraphQLField) -> GraphQLObjectType:
    named = get_named_type(field_def.type)
    if not isinstance(named, GraphQLObjectType):
        raise Unsupported("abstract or scalar field")
    return named
