"""Builds and refreshes the translations: `python -m studio_monitor.ui.i18n.tools build|update`.

`build` compiles every `.ts` beside this module into its `.qm` with `pyside6-lrelease` (run by
`scripts/bootstrap.sh`, so a checkout and the bundle always have fresh ones). `update` runs
`pyside6-lupdate` over the app's sources: new strings come in unfinished, strings gone from
the code are dropped (`-no-obsolete`), and no line numbers are kept, so an edit elsewhere in a
file does not touch the `.ts`. The hub and the command line speak English only: their folders
are not read.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from studio_monitor.ui.i18n import QM_DIR

PACKAGE = Path(__file__).resolve().parents[2]
#: Parts of the package that show nothing in the app's windows.
SKIP = ("hub", "cli")


def tool(name: str) -> str:
    """`pyside6-lrelease`/`pyside6-lupdate` of the running Python's environment, else PATH's."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install PySide6 in this environment")
    return found


def ts_files(ts_dir: Path = QM_DIR) -> list[Path]:
    return sorted(ts_dir.glob("*.ts"))


def sources(package: Path = PACKAGE) -> list[Path]:
    return sorted(
        path for path in package.rglob("*.py") if path.relative_to(package).parts[0] not in SKIP
    )


def build(out_dir: Path = QM_DIR, ts_dir: Path = QM_DIR) -> list[Path]:
    """Compile each `.ts` into `out_dir`; the `.qm` paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for ts in ts_files(ts_dir):
        qm = out_dir / f"{ts.stem}.qm"
        subprocess.run(
            [tool("pyside6-lrelease"), "-silent", str(ts), "-qm", str(qm)],
            check=True,
        )
        built.append(qm)
    return built


def update(ts_dir: Path = QM_DIR, package: Path = PACKAGE) -> None:
    files = [os.path.relpath(path, ts_dir) for path in sources(package)]
    for ts in ts_files(ts_dir):
        subprocess.run(
            [tool("pyside6-lupdate"), "-no-obsolete", "-locations", "none", *files, "-ts", ts.name],
            check=True,
            cwd=ts_dir,
        )
        # lupdate takes `#:` comments (this code's attribute docs) for translator notes.
        text = ts.read_text(encoding="utf-8")
        ts.write_text(re.sub(r"\n *<extracomment>.*?</extracomment>", "", text, flags=re.S))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio_monitor.ui.i18n.tools")
    parser.add_argument("action", choices=("build", "update"))
    args = parser.parse_args(argv)
    if args.action == "build":
        for qm in build():
            print(f"translations: built {qm}")
    else:
        update()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
