"""GraphiQL with its assets served by the API itself (development mode only).

Strawberry's page loads React and GraphiQL from a public CDN and stays blank where that is
blocked; this page loads the same files from `/graphiql-assets/` (microspace/web/static/graphiql,
copied from npm: see SOURCES.md there, stored gzip-compressed). The page holds no token:
the caller pastes theirs into GraphiQL's headers editor.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

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


MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@functools.cache
def _compressed(name: str) -> bytes | None:
    path = ASSETS / f"{name}.gz"
    # only the files shipped beside this module, never a path a caller makes up
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    return path.read_bytes()


async def asset(request: Request) -> Response:
    """One GraphiQL file, sent compressed to clients that accept gzip (every browser)."""
    name = request.path_params["name"]
    body = _compressed(name)
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    if body is None or media_type is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=media_type, headers=headers)
    return Response(gzip.decompress(body), media_type=media_type, headers=headers)
