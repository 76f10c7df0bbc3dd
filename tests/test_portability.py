"""The suite runs on Windows and macOS too (the release workflow's jobs): POSIX-only calls in
tests are marked, or go through `tests/support/portable.py`.

Every module under `tests/` is read with `ast`. A use of an API that does not exist or does
not behave the same on Windows or macOS (the list `POSIX_APIS` below, each with its reason)
must sit in a test whose function, class or module (`pytestmark`) carries one of the
markers of `ALLOWED_MARKERS`, which tests/conftest.py skips with their reason where they do
not apply. A module-level import of a POSIX-only module (`fcntl`, `termios`, ...) is refused
even then: it fails at collection, before any marker is read. The portable ways live in
`tests/support/portable.py` (the one file not checked): `kill_hard`, `freeze`/`thaw`,
`is_root`, `symlink_or_skip`.

A failure names the file, the line, the API and why it is not portable.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
TESTS: Final = ROOT / "tests"

#: The markers that say "this needs POSIX (or more)": tests/conftest.py skips them elsewhere.
#: `macos_only` counts: macOS is POSIX.
ALLOWED_MARKERS: Final = frozenset({"posix_only", "linux_only", "needs_root_linux", "macos_only"})

#: The wrappers: portable versions of what the list below refuses, and this file (its lists
#: name what they refuse): not checked.
WRAPPERS: Final = frozenset({TESTS / "support" / "portable.py", Path(__file__).resolve()})

_NO_SIGNAL = "no such signal on Windows (AttributeError)"
_NO_OS = "POSIX only: os has no such function on Windows"

#: `module.attribute` uses that are POSIX-only, with the reason.
POSIX_APIS: Final[dict[str, str]] = {
    "os.killpg": _NO_OS + " (process groups: use portable.kill_hard or proc.kill())",
    "os.getpgid": _NO_OS,
    "os.getpgrp": _NO_OS,
    "os.setsid": _NO_OS,
    "os.setpgid": _NO_OS,
    "os.getuid": _NO_OS + " (use portable.is_root())",
    "os.geteuid": _NO_OS + " (use portable.is_root())",
    "os.getgid": _NO_OS,
    "os.getegid": _NO_OS,
    "os.fork": _NO_OS,
    "os.mkfifo": _NO_OS,
    "os.openpty": _NO_OS,
    "os.statvfs": _NO_OS + " (use shutil.disk_usage)",
    "os.symlink": "needs a privilege on Windows (use portable.symlink_or_skip)",
    "signal.SIGKILL": _NO_SIGNAL + " (use proc.kill() or portable.kill_hard)",
    "signal.SIGSTOP": _NO_SIGNAL + " (use portable.freeze)",
    "signal.SIGCONT": _NO_SIGNAL + " (use portable.thaw)",
    "signal.SIGHUP": _NO_SIGNAL,
    "signal.SIGUSR1": _NO_SIGNAL,
    "signal.SIGUSR2": _NO_SIGNAL,
    "signal.SIGQUIT": _NO_SIGNAL,
    "signal.SIGALRM": _NO_SIGNAL,
    "signal.SIGCHLD": _NO_SIGNAL,
    "signal.SIGPIPE": _NO_SIGNAL,
    "signal.alarm": _NO_SIGNAL,
    "signal.SIGTERM": "on Windows sending SIGTERM is TerminateProcess: no handler runs, "
    "nothing shuts down cleanly (a test of a clean stop is POSIX-only)",
}

#: Methods (any object) that are POSIX-only.
POSIX_METHODS: Final[dict[str, str]] = {
    "symlink_to": "needs a privilege on Windows (use portable.symlink_or_skip)",
}

#: Modules that do not exist on Windows.
POSIX_MODULES: Final[dict[str, str]] = {
    name: "no such module on Windows"
    for name in ("fcntl", "resource", "termios", "pty", "tty", "pwd", "grp", "posix", "syslog")
}

#: Keyword arguments of subprocess that only POSIX honours.
POSIX_KEYWORDS: Final[dict[str, str]] = {
    "start_new_session": "ignored on Windows (no sessions, no process groups to signal)",
    "preexec_fn": "not supported on Windows",
    "process_group": "ignored on Windows",
    "pass_fds": "not supported on Windows",
}

#: Commands (first item of an argument list) that exist on Linux only.
LINUX_COMMANDS: Final = frozenset({"mount", "umount", "mkfs.ext4", "losetup"})

#: Path literals that exist on Linux only.
LINUX_PATHS: Final = ("/proc/", "/sys/", "/dev/shm")

#: Attributes whose value differs on Windows: st_mode's permission bits (Windows reports
#: only the read-only flag, 0o666 or 0o444).
POSIX_ATTRIBUTES: Final[dict[str, str]] = {
    "st_mode": "permission bits are POSIX: Windows reports only read-only (0o666 or 0o444)",
}


@dataclass(frozen=True)
class Finding:
    file: Path
    line: int
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line} {self.what}: {self.why}"


def _marker_names(decorators: list[ast.expr]) -> set[str]:
    """The names of `pytest.mark.X` (called or not) among decorators or a pytestmark value."""
    names: set[str] = set()
    for node in decorators:
        target = node.func if isinstance(node, ast.Call) else node
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Attribute)
            and target.value.attr == "mark"
        ):
            names.add(target.attr)
    return names


def _module_markers(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        ) or (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "pytestmark"
        ):
            value = node.value
            assert value is not None
            items = list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]
            return _marker_names(items)
    return set()


def _uses(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(what, why) for each POSIX-only use right at `node` (not its children)."""
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name):
            name = f"{node.value.id}.{node.attr}"
            if name in POSIX_APIS:
                yield name, POSIX_APIS[name]
        if node.attr in POSIX_ATTRIBUTES:
            yield f".{node.attr}", POSIX_ATTRIBUTES[node.attr]
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in POSIX_METHODS:
            yield f".{func.attr}()", POSIX_METHODS[func.attr]
        if isinstance(func, ast.Attribute) and func.attr == "chmod" and node.args:
            mode = node.args[0]
            if (
                isinstance(mode, ast.Constant)
                and isinstance(mode.value, int)
                and mode.value & 0o600 != 0o600
            ):
                yield (
                    f".chmod({oct(mode.value)})",
                    "denying access by mode bits is POSIX: Windows keeps the file "
                    "readable (and root reads anything)",
                )
        for keyword in node.keywords:
            if keyword.arg in POSIX_KEYWORDS:
                yield f"{keyword.arg}=", POSIX_KEYWORDS[keyword.arg]
        first = node.args[0] if node.args else None
        if isinstance(first, (ast.List, ast.Tuple)) and first.elts:
            first = first.elts[0]
        if isinstance(first, ast.Constant) and first.value in LINUX_COMMANDS:
            yield f"{first.value!r} command", "a Linux command (loop mounts, tmpfs)"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        names = (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        for name in names:
            top = name.split(".")[0]
            if top in POSIX_MODULES:
                yield f"import {top}", POSIX_MODULES[top]
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(LINUX_PATHS)
    ):
        yield repr(node.value), "a Linux-only path"


def findings_of(path: Path) -> list[Finding]:
    """Each POSIX-only use in `path` that no allowed marker covers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Finding] = []
    module_ok = bool(_module_markers(tree) & ALLOWED_MARKERS)

    def visit(node: ast.AST, covered: bool, depth: int) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            covered = covered or bool(_marker_names(node.decorator_list) & ALLOWED_MARKERS)
            depth += 1
        for what, why in _uses(node):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and depth == 0:
                found.append(
                    Finding(path, node.lineno, what, why + ": import it inside a marked test")
                )
            elif not covered:
                found.append(Finding(path, getattr(node, "lineno", 0), what, why))
        for child in ast.iter_child_nodes(node):
            visit(child, covered, depth)

    visit(tree, module_ok, 0)
    return found


def unexplained_markers(path: Path) -> list[Finding]:
    """Each posix_only / linux_only / needs_root_linux marker given without its reason."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    explained = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and node.args[0].value.strip()
    }
    return [
        Finding(path, node.lineno, f"pytest.mark.{node.attr}", 'say why: mark.X("reason")')
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ALLOWED_MARKERS - {"macos_only"}
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
        and id(node) not in explained
    ]


def checked_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p not in WRAPPERS)


def test_posix_only_apis_are_marked_or_go_through_the_portable_wrappers() -> None:
    wrong = [str(f) for path in checked_files() for f in findings_of(path)]
    assert not wrong, (
        "POSIX-only use outside a posix_only / linux_only / needs_root_linux / macos_only test "
        "(mark the test, or use tests/support/portable.py):\n" + "\n".join(wrong)
    )


def test_platform_markers_say_why() -> None:
    wrong = [str(f) for path in checked_files() for f in unexplained_markers(path)]
    assert not wrong, (
        'a platform marker without its reason (pytest.mark.posix_only("why")):\n' + "\n".join(wrong)
    )


def test_the_checker_finds_each_kind_and_honours_markers(tmp_path: Path) -> None:
    """The checker itself, on a small module: unmarked uses found with their line, the same
    uses under a function, class or module marker not, a module-level import always."""
    body = (
        "import os, signal, subprocess\n"
        "def test_a(proc, p):\n"
        "    os.killpg(proc.pid, signal.SIGKILL)\n"
        "    subprocess.run(['mount', 'x'], start_new_session=True)\n"
        "    p.chmod(0o000); p.stat().st_mode; open('/proc/1/status')\n"
        "    import fcntl\n"
        "@pytest.mark.posix_only\n"
        "def test_b(proc):\n"
        "    proc.send_signal(signal.SIGSTOP)\n"
        "@pytest.mark.linux_only('why')\n"
        "class TestC:\n"
        "    def test_c(self):\n"
        "        os.geteuid()\n"
        "def test_d(p):\n"
        "    p.chmod(0o600)\n"
    )
    path = tmp_path / "test_x.py"
    path.write_text(body)
    found = sorted((f.line, f.what) for f in findings_of(path))
    assert found == [
        (3, "os.killpg"),
        (3, "signal.SIGKILL"),
        (4, "'mount' command"),
        (4, "start_new_session="),
        (5, "'/proc/1/status'"),
        (5, ".chmod(0o0)"),
        (5, ".st_mode"),
        (6, "import fcntl"),
    ]
    assert [(f.line, f.what) for f in unexplained_markers(path)] == [(7, "pytest.mark.posix_only")]
    path.write_text("import termios\npytestmark = pytest.mark.posix_only('x')\n" + body)
    assert [(f.line, f.what) for f in findings_of(path)] == [(1, "import termios")]
