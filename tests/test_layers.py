"""The plan of the house: every import points down, and modules form no circles.

Invariants guarded here:
- a package imports only packages of its own layer rank or below (LAYERS, bottom first);
  function-local imports count, `if TYPE_CHECKING:` imports (annotations only) do not;
- the one arrow up is the schema's root wiring calling the resolvers (ROOT_WIRING);
- inside the entry package, each room imports only the rooms ROOMS allows it: background
  jobs and the HTTP stack know nothing of each other, endpoints and the fast lane stand on
  the HTTP stack, the app composes them, and operator commands may use any of them;
- no import circle between modules, except among the schema's node types, which refer to
  each other as a graph does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# bottom first; a package may import its own rank and any rank below
LAYERS: list[tuple[str, list[str]]] = [
    ("ground", ["core"]),
    ("data: models", ["models"]),
    ("data: store", ["store"]),
    # storage, sniffing, signed links, asset operations: privacy erases through it
    ("data: files", ["files"]),
    ("domain: policies", ["policies"]),
    ("domain: privacy engine", ["privacy"]),
    # the read compiler: plans from the GraphQL document, the catalog of tables and the
    # policy decisions; the schema's execution hook calls it
    ("domain: read compiler", ["compiler"]),
    # the schema's types and request context sit below the resolvers that return them
    ("wiring", ["schema"]),
    ("domain: resolvers", ["resolvers"]),
    ("entry", ["microspace", "server"]),
]
RANK = {pkg: rank for rank, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}
ROOT_WIRING = {"schema.root"}  # may import resolvers: the root fields point at them

# the entry package's rooms (microspace/<room>/; the app and asgi modules are "app") and
# the rooms each may import besides its own
ROOMS: dict[str, set[str]] = {
    "web": set(),
    "jobs": set(),
    "lane": {"web"},
    "endpoints": {"web"},
    "live": {"web"},
    "app": {"web", "lane", "endpoints", "live"},
    "commands": {"app", "web", "lane", "endpoints", "jobs", "live"},
}


def _modules() -> dict[str, Path]:
    found = {"server": ROOT / "server.py"}
    for pkg in RANK:
        folder = ROOT / pkg
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported by a file, resolved to modules where a name is one."""
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    walk(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] in RANK)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module.split(".")[0] not in RANK:
                    continue
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    found.add(sub if sub in modules else child.module)
            walk(child)

    walk(ast.parse(path.read_text()))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) & set(modules) - {name} for name, path in modules.items()}


def _pkg(module: str) -> str:
    return module.split(".")[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for src, targets in graph.items():
        for dst in targets:
            if RANK[_pkg(dst)] <= RANK[_pkg(src)]:
                continue
            if src in ROOT_WIRING and _pkg(dst) == "resolvers":
                continue
            found.append(f"{src} -> {dst}")
    return sorted(found)


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "microspace":
        return None
    return parts[1] if len(parts) > 2 else "app"


def crossed_rooms(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for src, targets in graph.items():
        room = _room(src)
        if room is None:
            continue
        for dst in targets:
            other = _room(dst)
            if other is not None and other != room and other not in ROOMS[room]:
                found.append(f"{src} -> {dst}")
    return sorted(found)


def _allowed_circle(members: set[str]) -> bool:
    return all(_pkg(m) == "schema" and m not in ROOT_WIRING for m in members)


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_every_package_is_placed_in_a_layer() -> None:
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert top - {"tests", "migrations", "bench"} <= set(RANK)


def test_imports_only_point_down() -> None:
    assert upward_imports(_graph()) == []


def test_every_room_of_the_entry_package_is_placed() -> None:
    rooms = {p.name for p in (ROOT / "microspace").iterdir() if (p / "__init__.py").exists()}
    assert rooms == set(ROOMS) - {"app"}


def test_rooms_of_the_entry_package_import_only_what_they_may() -> None:
    assert crossed_rooms(_graph()) == []


def test_no_import_circles_except_the_schema_node_types() -> None:
    bad = [sorted(c) for c in circles(_graph()) if not _allowed_circle(c)]
    assert bad == []


def test_the_checks_can_fail() -> None:
    graph = {
        "core.db": {"models.base"},
        "models.base": set(),
        "store.a": {"store.b"},
        "store.b": {"store.a"},
    }
    assert upward_imports(graph) == ["core.db -> models.base"]
    rooms = {
        "microspace.jobs.worker": {"microspace.web.state"},
        "microspace.lane.lane": {"microspace.web.pipeline"},
    }
    assert crossed_rooms(rooms) == ["microspace.jobs.worker -> microspace.web.state"]
    assert circles(graph) == [{"store.a", "store.b"}]
    assert _allowed_circle({"schema.spaces", "schema.blocks"})
    assert not _allowed_circle({"schema.root", "schema.spaces"})


def test_no_script_beside_the_packages_shadows_one():
    """A script run as `python bench/x.py` imports from its own folder first: a script named
    like a package (bench/files.py beside files/) breaks every import of that package."""
    root = Path(__file__).resolve().parent.parent
    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    for folder in ("bench", "bench/peer", ".ci"):
        clashes = [s.stem for s in (root / folder).glob("*.py") if s.stem in packages]
        assert clashes == [], f"{folder}: {clashes}"
