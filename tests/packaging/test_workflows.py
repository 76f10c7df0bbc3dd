"""The release workflow (.github/workflows/) and the scripts it calls.

The workflow only chooses where and when; the work is in scripts that .ci/run runs too. These
tests hold that together: the ubuntu-latest / Python 3.11 job runs exactly .ci/run's commands,
every step calls a script of the repository, actionlint passes the real workflow and refuses
broken copies of it, and the release step publishes only a matching, verified set of
artifacts (publish_release.sh --dry-run, with real files and real checksums).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import studio_monitor

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "build-and-test.yml"
CI_RUN = ROOT / ".ci" / "run"
OSES = {"ubuntu-latest": "Linux", "windows-latest": "Windows", "macos-latest": "macOS"}
VERSION = studio_monitor.__version__


def load(path: Path = WORKFLOW) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def condition_holds(expression: str, context: dict[str, str]) -> bool:
    """Evaluates the few `if:` forms the workflow uses: `a == 'b'` terms, `!cancelled()` and
    `always()`, joined by `&&`. Anything else fails the test, so a new form is noticed here."""
    expression = expression.strip()
    if expression.startswith("${{") and expression.endswith("}}"):
        expression = expression[3:-2].strip()
    result = True
    for term in (t.strip() for t in expression.split("&&")):
        if term in ("!cancelled()", "always()", "success() || failure()"):
            continue
        match = re.fullmatch(r"([\w.]+)\s*==\s*'([^']*)'", term)
        assert match, f"an `if:` form these tests cannot evaluate: {term!r}"
        assert match.group(1) in context, f"unknown context {match.group(1)!r} in {term!r}"
        result = result and context[match.group(1)] == match.group(2)
    return result


def job_runs(os_name: str, python: str) -> list[str]:
    """The `run:` commands the build-and-test job executes on one matrix combination."""
    job = load()["jobs"]["build-and-test"]
    context = {"runner.os": OSES[os_name], "matrix.os": os_name, "matrix.python": python}
    return [
        step["run"].strip()
        for step in job["steps"]
        if "run" in step and ("if" not in step or condition_holds(str(step["if"]), context))
    ]


def ci_run_commands() -> list[str]:
    """.ci/run's commands: its lines that are not comments, `set` or `cd`."""
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    return [
        line
        for line in lines
        if line and not line.startswith(("#", "set ", "cd ")) and line != "true"
    ]


def test_the_linux_job_runs_exactly_what_ci_runs() -> None:
    assert ci_run_commands() == [
        "scripts/lint-workflows.sh",
        "scripts/run-tests.sh",
        "packaging/build.sh --release",
    ]
    assert job_runs("ubuntu-latest", "3.11") == ci_run_commands()


def test_every_os_and_python_is_tested_and_each_os_builds_its_release_once() -> None:
    job = load()["jobs"]["build-and-test"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix["os"]) == set(OSES)
    assert set(matrix["python"]) == {"3.11", "3.12"}
    assert job["strategy"]["fail-fast"] is False
    for os_name in OSES:
        for python in ("3.11", "3.12"):
            runs = job_runs(os_name, python)
            assert "scripts/run-tests.sh" in runs
            assert ("packaging/build.sh --release" in runs) == (python == "3.11")


def test_every_step_calls_a_script_of_the_repository() -> None:
    # One source of truth: no logic in YAML, only a script with its arguments.
    for name, job in load()["jobs"].items():
        for step in job["steps"]:
            if "run" not in step:
                assert step["uses"].startswith("actions/"), (name, step)
                continue
            command = shlex.split(step["run"])
            assert len(step["run"].strip().splitlines()) == 1, (name, step["run"])
            script = ROOT / command[0]
            assert script.is_file(), f"{name}: {command[0]} is not in the repository"
            assert os.access(script, os.X_OK), f"{command[0]} is not executable"


def test_the_uploaded_artifacts_are_the_ones_the_build_and_release_name() -> None:
    job = load()["jobs"]["build-and-test"]
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload"))
    patterns = [p.strip() for p in upload["with"]["path"].splitlines() if p.strip()]
    names = [
        f"StudioMonitor-{VERSION}-linux-x86_64.tar.gz",
        f"StudioMonitor-{VERSION}-setup.exe",
        f"StudioMonitor-{VERSION}-macos-arm64.dmg",
        "SHA256SUMS-linux.txt",
        "SHA256SUMS-windows.txt",
        "SHA256SUMS-macos.txt",
    ]
    for name in names:
        assert any(fnmatch.fnmatch(f"dist/{name}", p) for p in patterns), name
    build = (ROOT / "packaging" / "build.sh").read_text(encoding="utf-8")
    for made in (
        "dist/StudioMonitor-$version-linux-$arch.tar.gz",
        "dist/StudioMonitor-$version-setup.exe",
        "dist/StudioMonitor-$version-macos-$arch.dmg",
        "dist/SHA256SUMS-$os.txt",
    ):
        assert made in build, made
    release = load()["jobs"]["release"]
    assert release["needs"] == "build-and-test"
    assert "refs/tags/v" in release["if"]
    assert release["permissions"] == {"contents": "write"}


# --- actionlint ----------------------------------------------------------------------------


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is installed by the dev extra on Linux x86_64 only")
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [_tool("actionlint"), "-no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=ROOT,
    )


def test_actionlint_passes_the_real_workflows() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        done = actionlint(path)
        assert done.returncode == 0, done.stdout + done.stderr


BREAKAGES = [
    # (what is broken, text replaced, replacement, what actionlint must say)
    (
        "a matrix key that does not exist",
        "matrix.python == '3.11'",
        "matrix.pyhton == '3.11'",
        "pyhton",
    ),
    (
        "a job that needs a job that does not exist",
        "needs: build-and-test",
        "needs: build",
        "build",
    ),
    (
        "an unknown runner label",
        "runs-on: ubuntu-latest",
        "runs-on: ubuntu-lastest",
        "ubuntu-lastest",
    ),
    ("a broken expression", "${{ github.ref_name }}", "${{ github.ref_name }", "}"),
    (
        "shell in a run block that shellcheck refuses",
        "run: scripts/run-tests.sh",
        'run: if [ "$X" = 1 ]; then echo',
        "shellcheck",
    ),
]


@pytest.mark.parametrize(("what", "old", "new", "said"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_actionlint_refuses_a_broken_copy_of_the_workflow(
    tmp_path: Path, what: str, old: str, new: str, said: str
) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text, f"the breakage {what!r} no longer applies to the workflow"
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode != 0, f"actionlint accepted {what}"
    assert said in done.stdout, done.stdout


def test_shellcheck_passes_the_pipeline_scripts_and_refuses_a_broken_one(tmp_path: Path) -> None:
    shellcheck = _tool("shellcheck")
    scripts = [
        ROOT / ".ci" / "run",
        *sorted((ROOT / "scripts").glob("*.sh")),
        *sorted((ROOT / "packaging").glob("*.sh")),
        *sorted((ROOT / "packaging").glob("*/*.sh")),
    ]
    done = subprocess.run(
        [shellcheck, "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    # The mistake shellcheck caught in import_signing.sh while it was written: an apostrophe
    # inside a ${VAR:?message} in double quotes (bash: "unexpected EOF").
    broken = tmp_path / "broken.sh"
    broken.write_text(
        '#!/usr/bin/env bash\n: "${SECRET:?the certificate\'s password is not set}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [shellcheck, str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "SC1078" in done.stdout or "SC1073" in done.stdout, done.stdout


# --- publish_release.sh --------------------------------------------------------------------


def release_dir(tmp_path: Path) -> Path:
    """What the release job downloads: three artifacts and each OS's checksum list."""
    dist = tmp_path / "dist"
    dist.mkdir()
    made = {
        "linux": f"StudioMonitor-{VERSION}-linux-x86_64.tar.gz",
        "windows": f"StudioMonitor-{VERSION}-setup.exe",
        "macos": f"StudioMonitor-{VERSION}-macos-arm64.dmg",
    }
    for os_name, name in made.items():
        data = f"{os_name} artifact".encode() * 1000
        (dist / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        (dist / f"SHA256SUMS-{os_name}.txt").write_text(f"{digest}  {name}\n", encoding="utf-8")
    return dist


def publish(tag: str, dist: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("sha256sum") is None:
        pytest.skip("publish_release.sh runs on the ubuntu-latest release job (sha256sum)")
    return subprocess.run(
        ["bash", str(ROOT / "packaging" / "publish_release.sh"), tag, str(dist), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_publish_checks_the_artifacts_and_names_the_release(tmp_path: Path) -> None:
    dist = release_dir(tmp_path)
    done = publish(f"v{VERSION}", dist)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"gh release create v{VERSION} --verify-tag")
    for name in ("linux-x86_64.tar.gz", "setup.exe", "macos-arm64.dmg", "SHA256SUMS.txt"):
        assert name in done.stdout
    combined = (dist / "SHA256SUMS.txt").read_text(encoding="utf-8").splitlines()
    assert len(combined) == 3


def test_publish_refuses_a_tag_that_is_not_the_code_version(tmp_path: Path) -> None:
    done = publish("v99.0.0", release_dir(tmp_path))
    assert done.returncode == 1
    assert f"does not match the code's version {VERSION}" in done.stderr


def test_publish_refuses_an_artifact_whose_bytes_changed(tmp_path: Path) -> None:
    dist = release_dir(tmp_path)
    with (dist / f"StudioMonitor-{VERSION}-setup.exe").open("ab") as f:
        f.write(b"x")
    done = publish(f"v{VERSION}", dist)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr


def test_publish_refuses_a_missing_platform(tmp_path: Path) -> None:
    dist = release_dir(tmp_path)
    (dist / f"StudioMonitor-{VERSION}-macos-arm64.dmg").unlink()
    done = publish(f"v{VERSION}", dist)
    assert done.returncode == 1
    assert "expected one StudioMonitor-" in done.stderr


# --- the per-OS scripts refuse to run where they cannot ----------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal on other systems")
def test_the_windows_installer_script_refuses_off_windows() -> None:
    done = run_script("packaging/windows/make_installer.sh")
    assert done.returncode == 1
    assert "run this on Windows" in done.stderr


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the refusal on other systems")
def test_the_signing_import_refuses_off_macos(tmp_path: Path) -> None:
    done = run_script("packaging/macos/import_signing.sh", str(tmp_path / "k.keychain-db"))
    assert done.returncode == 1
    assert "run this on macOS" in done.stderr
    assert not (tmp_path / "k.keychain-db").exists()


def test_build_release_needs_its_self_test() -> None:
    done = run_script("packaging/build.sh", "--release", "--no-test")
    assert done.returncode == 2
    assert "--release runs the self-test" in done.stderr
