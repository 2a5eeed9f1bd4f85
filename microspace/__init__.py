"""Microspace platform infrastructure: configuration, database, authentication, CLI."""
