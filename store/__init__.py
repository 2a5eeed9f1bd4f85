"""Data layer: pagination, DataLoaders, ledgers, the outbox and validation rules shared by
several domains. Stands on `models` and `core`; knows nothing of GraphQL types."""

# each domain's data module registers its loaders on import (store/loaders.py REGISTRY)
from store import (
    api_keys,
    brand,
    contacts,
    locales,
    merge_values,
    spaces,
    subject_requests,
    webhooks,
)

__all__ = [
    "api_keys",
    "brand",
    "contacts",
    "locales",
    "merge_values",
    "spaces",
    "subject_requests",
    "webhooks",
]
