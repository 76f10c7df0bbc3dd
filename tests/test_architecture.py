"""The layer rules of docs/architecture.md, enforced from the code.

Every `import` and `from ... import` in `studio_monitor/` (at module level, inside functions
and under TYPE_CHECKING alike: a lazy import is still a dependency) is read with `ast`, and
each one that reaches another part of the project is checked against the layer it comes
from. A failure names the file, the line and the import, and what that layer may import.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGE: Final = ROOT / "studio_monitor"

#: The parts of the project, bottom to top: a part may import the parts of lower layers
#: only, never one of its own layer or above. `studio_monitor` is the package's own
#: `__init__` (the version).
LAYERS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"studio_monitor", "errors", "retry"}),
    frozenset({"protocol"}),
    frozenset({"platform", "logs"}),
    frozenset({"link", "hub"}),
    frozenset({"app", "diagnostics"}),
    frozenset({"ui"}),
    frozenset({"cli", "selftest"}),
    frozenset({"__main__"}),
)

#: Pairs the layers alone would allow but the design does not: the UI knows the hub only
#: through the wire (`protocol`) and the connection service (`link`).
FORBIDDEN: Final[dict[tuple[str, str], str]] = {
    ("ui", "hub"): "the UI talks to the hub only through the connection service",
}

#: Edges against the layers that are known and on their way out, each with its reason.
#: Remove an entry when its edge goes; the test fails while an entry allows nothing.
ALLOWED: Final[dict[tuple[str, str], str]] = {}

#: Packages the UI must not reach into: it talks to the connection service only (and reads
#: the values of `link.status`); the service is built from the settings and runs the checks.
UI_FORBIDDEN_MODULES: Final = (
    "studio_monitor.link.transports",
    "studio_monitor.link.check",
    "studio_monitor.link.machine",
)

#: The pure core: no Qt, no network library, no event loop glue. Tested without sockets.
PURE: Final = (
    "studio_monitor/__init__.py",
    "studio_monitor/errors.py",
    "studio_monitor/retry.py",
    "studio_monitor/protocol",
    # A package's `__init__` runs on import of any of its modules: it must be pure too.
    "studio_monitor/link/__init__.py",
    "studio_monitor/link/machine.py",
    "studio_monitor/link/policy.py",
    "studio_monitor/link/cursors.py",
    "studio_monitor/link/clock.py",
    "studio_monitor/link/status.py",
    "studio_monitor/link/outcomes.py",
    "studio_monitor/platform/__init__.py",
    "studio_monitor/platform/states.py",
)
IO_LIBRARIES: Final = frozenset(
    {"PySide6", "qasync", "websockets", "httpx", "aiohttp", "redis", "psutil", "sqlite3"}
)


@dataclass(frozen=True)
class Import:
    root: Path
    file: Path
    line: int
    #: The module imported: `a.b` for `import a.b`, `a.b.c` for `from a.b import c` when
    #: `c` is a module, else `a.b`.
    module: str

    def where(self) -> str:
        return f"{self.file.relative_to(self.root)}:{self.line} imports {self.module}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str, root: Path = ROOT) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, root: Path = ROOT) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = path if path.name == "__init__.py" else path.parent
    package = module_name(here, root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(root, path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                module = candidate if is_module(candidate, root) else source
                yield Import(root, path, node.lineno, module)


def part_of(module: str) -> str | None:
    """The part of the project `module` belongs to (None: not ours)."""
    names = module.split(".")
    if names[0] != "studio_monitor":
        return None
    return names[1] if len(names) > 1 else "studio_monitor"


def layer_of(part: str) -> int:
    for level, parts in enumerate(LAYERS):
        if part in parts:
            return level
    raise AssertionError(f"studio_monitor/{part} is in no layer: add it to LAYERS and the doc")


def project_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "studio_monitor").rglob("*.py"))


def project_edges(root: Path = ROOT) -> list[tuple[str, str, Import]]:
    edges: list[tuple[str, str, Import]] = []
    for path in project_files(root):
        source = part_of(module_name(path, root))
        assert source is not None
        for imp in imports_of(path, root):
            target = part_of(imp.module)
            if target is not None and target != source:
                edges.append((source, target, imp))
    return edges


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in project_files()}
    for part in sorted(p for p in parts if p is not None):
        layer_of(part)


def layer_violations(root: Path = ROOT) -> tuple[list[str], set[tuple[str, str]]]:
    """Each import against the layers: what breaks a rule, and which ALLOWED edges exist."""
    wrong: list[str] = []
    used: set[tuple[str, str]] = set()
    for source, target, imp in project_edges(root):
        if layer_of(target) < layer_of(source) and (source, target) not in FORBIDDEN:
            continue
        if (source, target) in ALLOWED:
            used.add((source, target))
            continue
        if (source, target) in FORBIDDEN:
            wrong.append(f"{imp.where()}: {FORBIDDEN[source, target]}")
            continue
        below = sorted(
            p for layer in LAYERS[: layer_of(source)] for p in layer if (source, p) not in FORBIDDEN
        )
        wrong.append(f"{imp.where()}: {source}/ may import only {', '.join(below)}")
    return wrong, used


def test_each_layer_imports_only_from_the_layers_below() -> None:
    wrong, used = layer_violations()
    assert not wrong, "layer rule broken (docs/architecture.md):\n" + "\n".join(wrong)
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED lists edges the code no longer has, remove them: {stale}"


def test_no_import_cycle_between_parts() -> None:
    graph: dict[str, dict[str, Import]] = {}
    for source, target, imp in project_edges():
        graph.setdefault(source, {}).setdefault(target, imp)
    for (source, target), _reason in ALLOWED.items():
        graph.get(source, {}).pop(target, None)

    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, {}):
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    for part in sorted(graph):
        cycle = cycle_from(part)
        if cycle is not None:
            steps = [graph[a][b].where() for a, b in itertools.pairwise(cycle)]
            pytest.fail(f"import cycle {' -> '.join(cycle)}:\n" + "\n".join(steps))


def test_the_ui_talks_to_the_service_not_to_a_transport() -> None:
    wrong = [
        imp.where()
        for path in (PACKAGE / "ui").rglob("*.py")
        for imp in imports_of(path)
        if imp.module.startswith(UI_FORBIDDEN_MODULES)
    ]
    assert not wrong, "the UI reaches past the connection service:\n" + "\n".join(wrong)


def test_the_pure_core_imports_no_io_library() -> None:
    files: list[Path] = []
    for entry in PURE:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    pure_modules = {module_name(f) for f in files}
    wrong: list[str] = []
    for path in files:
        for imp in imports_of(path):
            top = imp.module.split(".")[0]
            if top in IO_LIBRARIES:
                wrong.append(f"{imp.where()}: the pure core does no I/O")
            elif top == "studio_monitor" and imp.module not in pure_modules:
                wrong.append(f"{imp.where()}: the pure core imports only the pure core")
    assert not wrong, "\n".join(wrong)


def test_a_broken_rule_is_named_by_file_line_and_import(tmp_path: Path) -> None:
    """The checker itself, on a small package: a relative import from the hub into the UI,
    a lazy one from protocol into link, and one the layers allow."""
    package = tmp_path / "studio_monitor"
    for folder in ("hub", "ui", "protocol", "link"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    (package / "ui" / "docks.py").write_text("from studio_monitor import errors\n")
    (package / "hub" / "server.py").write_text(
        "from studio_monitor.protocol import wire\nfrom ..ui import docks\n"
    )
    (package / "protocol" / "wire.py").write_text(
        "def late() -> None:\n    import studio_monitor.link\n"
    )
    wrong, _ = layer_violations(tmp_path)
    assert sorted(wrong) == [
        "studio_monitor/hub/server.py:2 imports studio_monitor.ui.docks: hub/ may import only "
        "errors, logs, platform, protocol, retry, studio_monitor",
        "studio_monitor/protocol/wire.py:2 imports studio_monitor.link: protocol/ may import "
        "only errors, retry, studio_monitor",
    ]


def test_tests_and_benchmarks_import_support_modules_never_test_modules() -> None:
    """Tests and benchmarks share helpers through `tests/support` (and other modules that
    are not `test_*.py`): importing a test module would run its collection-time code, tie
    one test (or a benchmark) to another's private details, and let pytest collect its
    tests twice."""
    files = sorted((ROOT / "benchmarks").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    wrong = [
        imp.where()
        for path in files
        for imp in imports_of(path)
        if imp.module.startswith("tests.") and imp.module.split(".")[-1].startswith("test_")
    ]
    assert not wrong, "a test module imported by another module:\n" + "\n".join(wrong)


#: Where a string names a topic: what is assigned to a name ending in `TOPIC`/`TOPICS` (or a
#: model's `DEPENDS_ON`), the first argument of these calls (and of `.get` on a mapping named
#: `...records`), a keyword argument named `topic`, and what is compared with a `topic`.
TOPIC_CALLS: Final = frozenset({"records", "record", "set_active", "SourceEntry"})


def _topic_names() -> frozenset[str]:
    from studio_monitor.protocol import monitors

    return frozenset(
        value
        for name, value in vars(monitors).items()
        if name.endswith("_TOPIC") and isinstance(value, str)
    )


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _names_a_topic(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(("topic", "topics")) or lowered == "depends_on"


def _topic_literals(node: ast.expr | None, topics: frozenset[str]) -> Iterator[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in topics:
        yield node
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            yield from _topic_literals(element, topics)


def topic_literals(path: Path, topics: frozenset[str]) -> Iterator[ast.Constant]:
    """The string literals of `path` that name one of `topics` where a topic is meant."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_names_a_topic(_name_of(t)) for t in targets):
                yield from _topic_literals(node.value, topics)
        elif isinstance(node, ast.Call):
            func = node.func
            records_get = (
                isinstance(func, ast.Attribute)
                and func.attr == "get"
                and _name_of(func.value).lower().endswith("records")
            )
            if node.args and (_name_of(func) in TOPIC_CALLS or records_get):
                yield from _topic_literals(node.args[0], topics)
            for keyword in node.keywords:
                if keyword.arg is not None and _names_a_topic(keyword.arg):
                    yield from _topic_literals(keyword.value, topics)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_topic(_name_of(side)) for side in sides):
                for side in sides:
                    yield from _topic_literals(side, topics)


def topic_literals_outside_protocol(root: Path, topics: frozenset[str]) -> list[str]:
    return [
        f"{path.relative_to(root)}:{literal.lineno} names the topic {literal.value!r}"
        for path in project_files(root)
        if path.relative_to(root / "studio_monitor").parts[0] != "protocol"
        for literal in topic_literals(path, topics)
    ]


def test_topics_are_named_by_the_registry_not_by_literals() -> None:
    """A topic's name is written once, in `protocol/monitors.py` (`SYSTEM_TOPIC`, ...): code
    that names a topic imports it. Checked where a string is plainly a topic (see
    `topic_literals`); the same words as section names, record fields or languages are not
    topics and pass."""
    topics = _topic_names()
    assert "system" in topics  # the registry's names are found
    wrong = topic_literals_outside_protocol(ROOT, topics)
    assert not wrong, (
        "a topic written as a literal: import its name from protocol/monitors.py\n"
        + "\n".join(wrong)
    )


def test_a_topic_literal_is_found_where_a_topic_is_meant(tmp_path: Path) -> None:
    package = tmp_path / "studio_monitor"
    (package / "hub").mkdir(parents=True)
    (package / "protocol").mkdir()
    (package / "protocol" / "monitors.py").write_text('SYSTEM_TOPIC = "system"\n')
    (package / "hub" / "rules.py").write_text(
        "TOPIC = 'system'\n"  # 1: a topic constant
        "WATCHED_TOPICS = ('other', 'system')\n"  # 2: in a tuple of topics
        "publisher.records('system')\n"  # 3
        "records.get('system', {})\n"  # 4
        "Change(topic='system', key='k')\n"  # 5
        "if change.topic == 'system': pass\n"  # 6
        "language = 'system'\n"  # not a topic
        "section(config, 'system')\n"  # not a topic
        "value.get('system')\n"  # not a topic: a field
    )
    assert topic_literals_outside_protocol(tmp_path, frozenset({"system"})) == [
        f"studio_monitor/hub/rules.py:{line} names the topic 'system'" for line in range(1, 7)
    ]
