"""Errors a client may see, each with a stable `extensions.code`."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class ApiError(Exception):
    """An expected failure: its message and code reach the client unmasked."""

    code = "BAD_REQUEST"
    default_message = "Bad request."

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        super().__init__(message or self.default_message)
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"
    default_message = "Authentication required: send a valid bearer token."


class Forbidden(ApiError):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class NotFound(ApiError):
    code = "NOT_FOUND"
    default_message = "Not found."


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"
    default_message = "Invalid input."


def is_expected(error: GraphQLError) -> bool:
    """Validation errors and ApiErrors are expected; anything else gets masked."""
    original = error.original_error
    if original is None:
        return True
    if isinstance(original, GraphQLError):
        return is_expected(original)
    return isinstance(original, ApiError)
