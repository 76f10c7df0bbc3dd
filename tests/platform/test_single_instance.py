"""A second launch hands over to the first: a real second process, a real local socket."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pytestqt.qtbot import QtBot

from studio_monitor.platform.single_instance import SingleInstance

SECOND = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication
    from studio_monitor.platform.single_instance import SingleInstance

    app = QCoreApplication(sys.argv)
    instance = SingleInstance(Path(sys.argv[1]))
    first = instance.acquire()
    instance.release()
    print("first" if first else "handed over")
    """
)


def launch(lock_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SECOND, str(lock_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_second_launch_asks_the_first_to_show(qtbot: QtBot, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.acquire()
    assert first.is_primary
    with qtbot.waitSignal(first.activationRequested, timeout=15_000):
        second = launch(tmp_path)
    out, err = second.communicate(timeout=15)
    assert (out.strip(), second.returncode) == ("handed over", 0), err
    first.release()


def test_after_the_first_quits_the_next_launch_is_first(qtbot: QtBot, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.acquire()
    first.release()
    later = launch(tmp_path)
    out, err = later.communicate(timeout=15)
    assert out.strip() == "first", err


def test_a_lock_left_by_a_killed_process_does_not_block(qtbot: QtBot, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from PySide6.QtCore import QCoreApplication;"
            "from studio_monitor.platform.single_instance import SingleInstance;"
            "app = QCoreApplication(sys.argv); i = SingleInstance(Path(sys.argv[1]));"
            "print(i.acquire(), flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "True"
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    instance = SingleInstance(tmp_path)
    assert instance.acquire()
    instance.release()
