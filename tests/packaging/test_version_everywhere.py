"""One version, `studio_monitor.__version__`, wherever a version is shown.

The bundles' metadata is checked in test_bundle_metadata.py; here, the command line and the
hub's `/health` (the About box formats the same attribute, in ui/main_window.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import studio_monitor
from tests.packaging.support import ROOT
from tests.support.hub import running_hub


def test_version_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "studio_monitor", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"studio-monitor {studio_monitor.__version__}"


@pytest.mark.asyncio
async def test_hub_health_reports_the_package_version(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{hub.url}/health")
    assert response.status_code == 200
    assert response.json()["version"] == studio_monitor.__version__
