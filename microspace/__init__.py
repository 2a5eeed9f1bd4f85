"""The entry package, in rooms (tests/test_layers.py keeps their imports apart):

- `web/`: the HTTP stack: request pipeline, CORS, observability, logs, traces, persisted
  queries and the Strawberry adapter;
- `lane/`: the fast lane: its one entrance (the front door), the lane and its kept
  connections;
- `endpoints/`: the routes besides `/graphql`: exports, files, invitations, unsubscribe,
  widget;
- `jobs/`: the background worker: outbox mail, webhook delivery, housekeeping;
- `commands/`: the operator CLI and what its commands do;
- `app.py` composes the application, `asgi.py` is the process managers' entry.
"""
