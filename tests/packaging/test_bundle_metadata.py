"""Bundle metadata comes from `studio_monitor.__version__` and nowhere else.

`packaging/bundle_metadata.py` is what the PyInstaller spec calls for the Windows version
resource, the macOS Info.plist and the Linux .desktop file; these tests load it from its file
(it is not part of the installed package) and check what it writes.
"""

from __future__ import annotations

import ast
import configparser
import plistlib
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

import studio_monitor
from tests.packaging.support import PACKAGING, load_packaging_module


@pytest.fixture(scope="module")
def meta() -> ModuleType:
    return load_packaging_module("bundle_metadata")


def test_generator_reads_the_package_version(
    meta: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert meta.package_version() == studio_monitor.__version__
    # Change the one source of truth: every generated file follows it.
    monkeypatch.setattr(studio_monitor, "__version__", "7.8.9rc2")
    paths = meta.write_all(tmp_path)
    plist = plistlib.loads(paths["info_plist"].read_bytes())
    assert plist["CFBundleShortVersionString"] == "7.8.9"
    assert plist["CFBundleVersion"] == "7.8.9"
    assert plist["StudioMonitorVersion"] == "7.8.9rc2"
    text = paths["version_info"].read_text(encoding="utf-8")
    assert "filevers=(7, 8, 9, 0)" in text
    assert "prodvers=(7, 8, 9, 0)" in text
    assert "StringStruct('ProductVersion', '7.8.9rc2')" in text
    assert "StringStruct('FileVersion', '7.8.9.0')" in text


def test_current_version_in_plist_and_version_resource(meta: ModuleType) -> None:
    version = studio_monitor.__version__
    plist = meta.info_plist(version)
    assert plist["CFBundleShortVersionString"] == meta.short_version(version)
    if re.fullmatch(r"\d+\.\d+\.\d+", version):
        assert plist["CFBundleShortVersionString"] == version
    assert plist["CFBundleIdentifier"] == "com.studiomonitor.app"
    assert plist["LSMinimumSystemVersion"] == "13.0"
    assert plist["NSHighResolutionCapable"] is True
    assert plist["NSRequiresAquaSystemAppearance"] is False
    assert "local network" in plist["NSLocalNetworkUsageDescription"]
    text = meta.windows_version_info(version)
    assert f"StringStruct('ProductVersion', {version!r})" in text
    assert "StringStruct('OriginalFilename', 'StudioMonitor.exe')" in text
    assert "'studio-monitor.exe'" in meta.windows_version_info(version, exe_name="studio-monitor")


def test_version_resource_is_the_expression_pyinstaller_evaluates(meta: ModuleType) -> None:
    # PyInstaller eval()s this text with its versioninfo classes in scope; that module needs
    # pefile, which only Windows builds install, so check the expression's structure here.
    tree = ast.parse(meta.windows_version_info("1.2.3"), mode="eval")
    call = tree.body
    assert isinstance(call, ast.Call)
    assert isinstance(call.func, ast.Name)
    assert call.func.id == "VSVersionInfo"
    names = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert names == {
        "VSVersionInfo",
        "FixedFileInfo",
        "StringFileInfo",
        "StringTable",
        "StringStruct",
        "VarFileInfo",
        "VarStruct",
    }
    ffi = next(k.value for k in call.keywords if k.arg == "ffi")
    assert isinstance(ffi, ast.Call)
    fields = {k.arg: ast.literal_eval(k.value) for k in ffi.keywords}
    assert fields["filevers"] == (1, 2, 3, 0)
    assert fields["prodvers"] == (1, 2, 3, 0)
    strings = {
        ast.literal_eval(n.args[0]): ast.literal_eval(n.args[1])
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "StringStruct"
    }
    assert strings["ProductVersion"] == "1.2.3"
    assert strings["FileVersion"] == "1.2.3.0"
    assert strings["ProductName"] == "Studio Monitor"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", (0, 1, 0, 0)),
        ("1.2", (1, 2, 0, 0)),
        ("2.0.1.dev3", (2, 0, 1, 0)),
        ("0.2.0rc1", (0, 2, 0, 0)),
        ("1.2.3.4.5", (1, 2, 3, 4)),
    ],
)
def test_release_tuple(meta: ModuleType, version: str, expected: tuple[int, ...]) -> None:
    assert meta.release_tuple(version) == expected


@pytest.mark.parametrize("bad", ["", "abc", "1.70000.0"])
def test_release_tuple_rejects(meta: ModuleType, bad: str) -> None:
    with pytest.raises(ValueError, match="version"):
        meta.release_tuple(bad)


def test_no_version_written_by_hand_in_packaging() -> None:
    version = studio_monitor.__version__
    for path in PACKAGING.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".spec", ".iss", ".sh", ".plist", ".md"}:
            text = path.read_text(encoding="utf-8")
            assert f'"{version}"' not in text, path
            assert f"'{version}'" not in text, path
            assert f"={version}\n" not in text, path
            assert f"-{version}-" not in text, path  # file names such as the installer's
    spec = (PACKAGING / "studio_monitor.spec").read_text(encoding="utf-8")
    assert "meta.package_version()" in spec
    assert "info_plist=meta.info_plist(VERSION)" in spec
    iss = (PACKAGING / "windows" / "studio_monitor.iss").read_text(encoding="utf-8")
    assert 'GetStringFileInfo(SourceDir + "\\" + AppExe, "ProductVersion")' in iss


def test_desktop_entry(meta: ModuleType) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(meta.desktop_entry("/opt/Studio Monitor/StudioMonitor"))
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Studio Monitor"
    assert entry["Exec"] == '"/opt/Studio Monitor/StudioMonitor"'
    assert entry["Icon"] == "studio-monitor"
    assert entry["Categories"].endswith(";")
    with pytest.raises(ValueError, match="Exec"):
        meta.desktop_entry('/tmp/evil"; rm -rf ~')


def test_desktop_entry_passes_desktop_file_validate(meta: ModuleType, tmp_path: Path) -> None:
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    path = tmp_path / "studio-monitor.desktop"
    path.write_text(meta.desktop_entry(), encoding="utf-8")
    result = subprocess.run([validator, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
