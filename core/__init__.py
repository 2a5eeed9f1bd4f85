"""Ground layer: configuration, database, errors, ids, authentication, HTTP rules, limits,
rate limiting, mail senders and the audit writer. Imports nothing of the project's own."""
