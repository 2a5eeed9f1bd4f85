"""Leaf variables coerced once-read (compiler/variables.py) equal graphql-core's own
coercion, value for value and source for source; what it does not take, graphql-core
reports with its own errors."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse
from graphql.execution.values import get_variable_values

from compiler.variables import Variables
from schema.build import build_schema

SCHEMA = build_schema()._schema
LEAVES = """query Q($id: ID!, $n: Int, $body: JSON, $on: Boolean, $s: String!) {
  space(id: $id) { id } }"""
DEFAULTED = "query D($n: Int = 3) { spaces(first: $n) { totalCount } }"


def _op(text: str) -> OperationDefinitionNode:
    op = parse(text).definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    return op


CASES: list[tuple[str, dict[str, Any]]] = [
    (LEAVES, {"id": "U3BhY2U6eA", "s": "x"}),
    (LEAVES, {"id": 12, "s": "x", "n": None, "body": {"a": [1, "b"]}, "on": True}),
    (LEAVES, {"id": "a", "s": "x", "n": 2**40}),  # an Int out of range
    (LEAVES, {"id": "a", "s": "x", "n": "3"}),  # a string for an Int
    (LEAVES, {"id": "a"}),  # a non-null variable missing
    (LEAVES, {"id": None, "s": "x"}),  # null for a non-null variable
    (LEAVES, {"id": "a", "s": "x", "on": "yes"}),
    (DEFAULTED, {}),
    (DEFAULTED, {"n": 5}),
]


def _sources(sources: dict[str, Any]) -> dict[str, Any]:
    # a signature's type is a new wrapper each time it is read: compare what it says
    return {
        k: (s.signature.name, str(s.signature.type), s.signature.default, s.value)
        for k, s in sources.items()
    }


@pytest.mark.parametrize(("text", "raw"), CASES)
def test_leaf_variables_coerce_as_graphql_core_does(text: str, raw: dict[str, Any]) -> None:
    op = _op(text)
    expected = get_variable_values(SCHEMA, op.variable_definitions or (), raw)
    variables = Variables(SCHEMA)
    for _ in range(2):  # read once, then from what was read
        got = variables.coerce(op, raw, None, text)
        if isinstance(expected, list):
            assert isinstance(got, list)
            assert [e.message for e in got] == [e.message for e in expected]
        else:
            assert not isinstance(got, list)
            assert got.coerced == expected.coerced
            assert _sources(got.sources) == _sources(expected.sources)
