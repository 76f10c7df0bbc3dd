"""The icon files rendered from the SVG, the Linux menu-entry installer, and script syntax."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.packaging.support import PACKAGING, ROOT, load_packaging_module


def test_icons_rendered_from_the_app_svg(qapp: object, tmp_path: Path) -> None:
    icons = load_packaging_module("make_icons")
    paths = icons.make_icons(ROOT / "resources" / "icons" / "app.svg", tmp_path)

    with Image.open(paths["ico"]) as ico:
        assert {(s, s) for s in icons.ICO_SIZES} <= set(ico.info["sizes"])
    with Image.open(paths["icns"]) as icns:
        assert icns.size == (1024, 1024)
        assert (16, 16, 2) in icns.info["sizes"]  # 32 px for 16 pt at 2x
    with Image.open(paths["png"]) as png:
        assert png.size == (256, 256)
        rgba = png.convert("RGBA")
        # Drawn, not blank: the rounded square is opaque in the middle, clear in the corner.
        assert rgba.getpixel((128, 60))[3] == 255  # type: ignore[index]
        assert rgba.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_icons_refuse_a_missing_svg(qapp: object, tmp_path: Path) -> None:
    icons = load_packaging_module("make_icons")
    with pytest.raises(FileNotFoundError, match="app icon not found"):
        icons.make_icons(tmp_path / "nope.svg", tmp_path / "out")


def _fake_bundle(folder: Path) -> None:
    folder.mkdir(parents=True)
    exe = folder / "StudioMonitor"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    meta = load_packaging_module("bundle_metadata")
    (folder / "studio-monitor.desktop").write_text(meta.desktop_entry(), encoding="utf-8")
    (folder / "studio-monitor.png").write_bytes(b"\x89PNG fake icon")
    script = folder / "install-desktop-entry.sh"
    shutil.copyfile(PACKAGING / "linux" / "install-desktop-entry.sh", script)
    script.chmod(0o755)


@pytest.mark.linux_only("the Linux bundle's menu-entry installer, run as a program by its #! line")
def test_linux_menu_entry_install_and_uninstall(tmp_path: Path) -> None:
    bundle = tmp_path / "opt" / "Studio Monitor"
    _fake_bundle(bundle)
    data = tmp_path / "xdg-data"
    env = {**os.environ, "XDG_DATA_HOME": str(data), "HOME": str(tmp_path / "home")}
    script = str(bundle / "install-desktop-entry.sh")

    done = subprocess.run([script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    entry = (data / "applications" / "studio-monitor.desktop").read_text(encoding="utf-8")
    assert f'Exec="{bundle}/StudioMonitor"\n' in entry
    icon = data / "icons" / "hicolor" / "256x256" / "apps" / "studio-monitor.png"
    assert f"Icon={icon}\n" in entry
    assert icon.read_bytes() == b"\x89PNG fake icon"
    validator = shutil.which("desktop-file-validate")
    if validator is not None:
        check = subprocess.run(
            [validator, str(data / "applications" / "studio-monitor.desktop")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout

    gone = subprocess.run(
        [script, "--uninstall"], env=env, capture_output=True, text=True, check=False
    )
    assert gone.returncode == 0, gone.stderr
    assert not (data / "applications" / "studio-monitor.desktop").exists()
    assert not icon.exists()
    # The app folder itself is left alone.
    assert (bundle / "StudioMonitor").exists()


@pytest.mark.linux_only("the Linux bundle's menu-entry installer, run as a program by its #! line")
def test_linux_menu_entry_refuses_outside_the_bundle(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    script = lonely / "install-desktop-entry.sh"
    shutil.copyfile(PACKAGING / "linux" / "install-desktop-entry.sh", script)
    script.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "d")}
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "StudioMonitor not found" in result.stderr
    assert not (tmp_path / "d").exists()
    bad = subprocess.run(
        [str(script), "--bogus"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "unknown option --bogus" in bad.stderr


@pytest.mark.parametrize(
    "script",
    ["build.sh", "macos/make_dmg.sh", "linux/install-desktop-entry.sh"],
)
def test_shell_scripts_parse(script: str) -> None:
    path = PACKAGING / script
    shell = "sh" if script.endswith("install-desktop-entry.sh") else "bash"
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK), f"{script} is not executable"


def test_make_dmg_refuses_off_macos(tmp_path: Path) -> None:
    if sys.platform == "darwin":
        pytest.skip("this checks the refusal on other systems")
    result = subprocess.run(
        ["bash", str(PACKAGING / "macos" / "make_dmg.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "run this on macOS" in result.stderr
    result = subprocess.run(
        ["bash", str(PACKAGING / "macos" / "make_dmg.sh"), "--notarize", "p"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--notarize needs --sign" in result.stderr
