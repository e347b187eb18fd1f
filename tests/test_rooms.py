"""One-way rooms: the package's own imports, walked with ``ast``, point only downwards.

The table is DESIGN.md's, as levels: a module may import modules of its own level
or below, never above; no two modules may import each other, however indirectly.
Imports inside functions count (a lazy import is still a dependency). A module
that is in no room fails the test until someone places it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "thinkcli"

# module, or package prefix -> level (higher may import lower). "thinkcli" is the package face only.
LEVELS: dict[str, int] = {
    # the command line: a client of everything below
    "thinkcli.cli": 7, "thinkcli.cli_app": 7, "thinkcli.subcommands": 7, "thinkcli.models_cli": 7,
    "thinkcli.cli_batch": 7, "thinkcli.cli_bench": 7, "thinkcli.cli_calibrate": 7, "thinkcli.cli_options": 7, "thinkcli.__main__": 7,
    "thinkcli.serve_command": 7, "thinkcli.cli_coerce": 7,
    # clients of the library face only (see FACE_ONLY)
    "thinkcli.serve": 6, "thinkcli.batch": 6,
    # the library face, and the engine's other clients
    "thinkcli": 5, "thinkcli.api": 5, "thinkcli.bench": 5, "thinkcli.bench_report": 5, "thinkcli.fix": 5,
    "thinkcli.calibrate": 5, "thinkcli.draws": 5, "thinkcli.replay": 5,
    # the run loop, its books, the one Request builder
    "thinkcli.engine": 4, "thinkcli.accounting": 4, "thinkcli.request": 4,
    "thinkcli.strategies": 3,
    "thinkcli.verify": 2,
    # model runners and what strategies see of them
    "thinkcli.backends": 1, "thinkcli.hub": 1, "thinkcli.hub_pull": 1, "thinkcli.hub_transfer": 1, "thinkcli.meter": 1, "thinkcli.prompts": 1,
    # settings, secrets, prices, the run log, selection rules, renderers over events
    "thinkcli.config": 0, "thinkcli.keys": 0, "thinkcli.pricing": 0, "thinkcli.history": 0,
    "thinkcli.select": 0, "thinkcli.profiles": 0, "thinkcli.ui": 0,
    # running many jobs: the scheduler, the budget ledger, the resumable JSONL file (batch and bench)
    "thinkcli.jobs": 0,
    # pure types and helpers (stdlib only)
    "thinkcli.events": -1, "thinkcli.errors": -1, "thinkcli.answers": -1, "thinkcli.candidate": -1,
    "thinkcli.files": -1, "thinkcli.inputs": -1, "thinkcli.patches": -1, "thinkcli.signals": -1, "thinkcli.calc": -1,
}
# serve/ and batch reach the engine only through the face (and read events; files and jobs are stdlib-level).
FACE = {"thinkcli", "thinkcli.api", "thinkcli.request", "thinkcli.errors", "thinkcli.events", "thinkcli.files",
        "thinkcli.jobs", "thinkcli.jobs.runner", "thinkcli.jobs.budget", "thinkcli.jobs.output"}
FACE_ONLY = ("thinkcli.serve", "thinkcli.batch")
# Renderers are the command line's business; strategies see the model only through meter.py.
ONLY_IMPORTED_BY = {"thinkcli.ui": ("thinkcli.cli", "thinkcli.cli_app", "thinkcli.subcommands", "thinkcli.models_cli",
                                   "thinkcli.cli_batch", "thinkcli.cli_bench", "thinkcli.cli_calibrate", "thinkcli.ui")}
NEVER = {"thinkcli.strategies": ("thinkcli.backends",)}


def in_room(module: str, room: str) -> bool:
    return module == room or (room != "thinkcli" and module.startswith(room + "."))


def level(module: str) -> int | None:
    rooms = [r for r in LEVELS if in_room(module, r)]
    return LEVELS[max(rooms, key=len)] if rooms else None


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its body."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = ".".join(up[: len(up) - (node.level - 1)] + ([base] if base else []))
                # `from pkg import sub` imports pkg.sub; `from mod import name` imports mod
                names = [resolve(f"{base}.{a.name}") or base for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.split(".")[0] == "thinkcli" else None
                if target and target != mod and not (is_pkg and target.startswith(mod + ".")):
                    found.add(target)
        edges[mod] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, targets in sorted(edges.items()):
        here = level(mod)
        if here is None:
            bad.append(f"{mod} is in no room: add it to LEVELS in tests/test_rooms.py (and DESIGN.md's table)")
            continue
        for t in sorted(targets):
            there = level(t)
            if there is not None and there > here:
                bad.append(f"{mod} (level {here}) imports {t} (level {there}), a room above it")
            if any(in_room(mod, r) for r in FACE_ONLY) and t not in FACE and not any(in_room(t, r) for r in FACE_ONLY):
                bad.append(f"{mod} imports {t}; it may use only the library face ({', '.join(sorted(FACE))})")
            for room, users in ONLY_IMPORTED_BY.items():
                if in_room(t, room) and not any(in_room(mod, u) for u in users):
                    bad.append(f"{mod} imports {t}; only {', '.join(users)} may")
            for room, banned in NEVER.items():
                if in_room(mod, room) and any(in_room(t, b) for b in banned):
                    bad.append(f"{mod} imports {t}; {room} reaches the model only through thinkcli.meter")
    return bad


def test_no_import_cycles():
    assert cycles(imports(modules())) == []


def test_no_room_imports_a_room_above_it():
    assert violations(imports(modules())) == []


def test_the_checks_catch_a_cycle_an_upward_import_and_a_face_bypass(tmp_path):
    pkg = tmp_path / "thinkcli"
    (pkg / "strategies").mkdir(parents=True)
    (pkg / "serve").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "events.py").write_text("from thinkcli.errors import X\n")
    (pkg / "errors.py").write_text("def f():\n    from thinkcli import events\n")  # lazy, still a cycle
    (pkg / "answers.py").write_text("from thinkcli.engine import run\n")  # -1 imports 4
    (pkg / "engine.py").write_text("")
    (pkg / "strategies" / "__init__.py").write_text("")
    (pkg / "strategies" / "vote.py").write_text("from thinkcli.backends.llama import Llama\n")
    (pkg / "backends").mkdir()
    (pkg / "backends" / "__init__.py").write_text("")
    (pkg / "backends" / "llama.py").write_text("")
    (pkg / "serve" / "__init__.py").write_text("from thinkcli import engine, events\nimport thinkcli.api\n")
    (pkg / "api.py").write_text("")
    (pkg / "mystery.py").write_text("")
    edges = imports(modules(pkg))
    assert cycles(edges) == [["thinkcli.errors", "thinkcli.events"]]
    found = violations(edges)
    assert "thinkcli.answers (level -1) imports thinkcli.engine (level 4), a room above it" in found
    assert any(v.startswith("thinkcli.serve imports thinkcli.engine; it may use only the library face") for v in found)
    assert not any("thinkcli.serve imports thinkcli.events" in v or "thinkcli.api;" in v for v in found)
    assert any(v.startswith("thinkcli.strategies.vote imports thinkcli.backends.llama") for v in found)
    assert "thinkcli.mystery is in no room" in found[-1] or any("thinkcli.mystery is in no room" in v for v in found)
