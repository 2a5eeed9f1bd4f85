"""Document limits: depth, aliases, directives, tokens, characters, cost, NUL bytes.

Strawberry's own limiters (QueryDepthLimiter, MaxAliasesLimiter, MaxTokensLimiter) do the
counting; these modules give their errors a stable `extensions.code` with the limit's value,
and add what strawberry lacks: a directive limit, a character limit, cost analysis before
execution (`cost`), introspection and field suggestions per principal (`extension`), and a
check of input strings (`inputs`).
"""

from core.limits.extension import QueryLimits, is_trusted
from core.limits.rules import Limits, limit_error, static_rules

__all__ = ["Limits", "QueryLimits", "is_trusted", "limit_error", "static_rules"]
