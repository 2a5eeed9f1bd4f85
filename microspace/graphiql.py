"""GraphiQL with its assets served by the API itself (development mode only).

Strawberry's page loads React and GraphiQL from a public CDN and stays blank where that is
blocked; this page loads the same files from `/graphiql-assets/` (microspace/static/graphiql,
copied from npm: see SOURCES.md there). The page holds no token: the caller pastes theirs
into GraphiQL's headers editor.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = "/graphiql-assets"

PAGE = f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Microspace GraphiQL</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>body {{ height: 100%; margin: 0; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
    <link rel="stylesheet" href="{PREFIX}/graphiql.min.css">
    <script src="{PREFIX}/react.production.min.js"></script>
    <script src="{PREFIX}/react-dom.production.min.js"></script>
    <script src="{PREFIX}/graphiql.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script>
      const fetcher = GraphiQL.createFetcher({{ url: "/graphql" }});
      const root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(React.createElement(GraphiQL, {{
        fetcher,
        defaultEditorToolsVisibility: true,
        defaultHeaders: '{{"Authorization": "Bearer <token>"}}',
      }}));
    </script>
  </body>
</html>
"""
