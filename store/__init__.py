"""Data layer: pagination, DataLoaders, ledgers, the outbox and validation rules shared by
several domains. Stands on `models` and `core`; knows nothing of GraphQL types."""

# each domain's data module registers its loaders on import (store/loaders.py REGISTRY)
from store import contacts, spaces, subject_requests

__all__ = ["contacts", "spaces", "subject_requests"]
