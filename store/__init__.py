"""Data layer: pagination, DataLoaders, ledgers, the outbox and validation rules shared by
several domains. Stands on `models` and `core`; knows nothing of GraphQL types."""
