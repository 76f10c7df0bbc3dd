"""The script PyInstaller freezes: the bundle runs exactly what the `studio-monitor` command runs.

So `StudioMonitor` (no argument) opens the app, `StudioMonitor hub ...` runs a hub (this is how
the app starts its embedded hub from a bundle, where `sys.executable` is the app itself),
and `StudioMonitor --self-test` checks the installation.
"""

import multiprocessing
import sys

from studio_monitor.cli.main import main

if __name__ == "__main__":
    # A frozen app must handle multiprocessing's child start-up itself, should any library
    # start a process pool; without this a pool would start new copies of the app.
    multiprocessing.freeze_support()
    sys.exit(main())
