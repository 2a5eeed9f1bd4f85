"""The application's hold on Strawberry's HTTP view (microspace/web/strawberry_adapter.py).

Invariants guarded here, so that a Strawberry upgrade that renames or reshapes anything the
application overrides or calls fails here, loudly, rather than silently skipping an override:
- every name in `OVERRIDDEN` exists on Strawberry's view with exactly those parameters;
- every method of `StrawberryView` that shadows one of Strawberry's is listed in `OVERRIDDEN`
  and keeps the base method's parameters;
- the view's HTTP error (`cross_web.HTTPException`) still carries `status_code` and `reason`,
  and `InvalidOperationTypeError` (the cause that tells a mutation over GET) still exists;
  tests/test_security.py checks the MUTATION_OVER_GET answer end to end.
"""

from __future__ import annotations

import inspect

import pytest
from cross_web import HTTPException
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import InvalidOperationTypeError

from microspace.web.strawberry_adapter import OVERRIDDEN, StrawberryView


def _base_method(name: str) -> object:
    for klass in GraphQL.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AssertionError(f"Strawberry's GraphQL view has no `{name}` any more")


def _parameters(function: object) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(OVERRIDDEN))
def test_strawberry_still_has_what_the_adapter_relies_on(name: str) -> None:
    base = _base_method(name)
    assert _parameters(base) == OVERRIDDEN[name], (
        f"Strawberry changed the signature of GraphQL.{name}: review "
        "microspace/web/strawberry_adapter.py"
    )


def test_every_override_is_declared_and_keeps_the_base_signature() -> None:
    own = {
        name: member
        for name, member in vars(StrawberryView).items()
        if callable(member) and not name.startswith("__")
    }
    shadowed = {name for name in own if any(name in vars(k) for k in GraphQL.__mro__)}
    assert shadowed <= set(OVERRIDDEN), f"undeclared overrides: {shadowed - set(OVERRIDDEN)}"
    for name in shadowed:
        assert _parameters(own[name]) == _parameters(_base_method(name)), name


def test_the_view_http_error_keeps_its_shape() -> None:
    error = HTTPException(405, "no")
    assert (error.status_code, error.reason) == (405, "no")
    assert issubclass(InvalidOperationTypeError, Exception)
