"""The wheel alone runs the demo: built from this checkout, installed into a fresh venv, run in an empty
directory outside the checkout with PYTHONPATH unset."""

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = {".git", ".venv", "build", "dist", "data"}  # top-level folders of a working copy, not of its source
CACHES = shutil.ignore_patterns("*.egg-info", "__pycache__", ".*_cache")


def not_source(directory: str, names: list[str]) -> set[str]:
    return CACHES(directory, names) | (LOCAL_ONLY.intersection(names) if Path(directory) == CHECKOUT else set())


def test_the_demo_runs_from_an_installed_wheel(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")}
    # Built from a copy: setuptools writes build/ and the egg-info into the tree it builds, where the other workers'
    # processes import dify_meter from, and would reuse a stale build/ of an earlier run.
    source = tmp_path / "checkout"
    shutil.copytree(CHECKOUT, source, ignore=not_source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        env=env,
        check=True,
        timeout=120,
    )
    wheel = next((tmp_path / "dist").glob("dify_meter-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # The instance templates, the SQL and normalization data, and both simulators (the demo's workspace is
    # generated, so no recording ships: those are test data).
    assert {
        "dify_meter/defs/templates/dagster.yaml",
        "dify_meter/defs/templates/workspace.yaml",
        "dify_meter/usage/providers.toml",
        "dify_meter/usage/sql/aggregate_per_model.sql",
        "dify_meter/sandbox/dify/generate.py",
        "dify_meter/sandbox/api_meter/server.py",
    } <= set(names)
    assert not [name for name in names if "fixture" in name and name.endswith((".sql", ".json"))]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        env=env,
        check=True,
        timeout=120,
    )
    own = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the dev venv, listed after the new venv's own site-packages; a plain path in a
    # .pth does not run that folder's .pth files, so the editable install's finder never loads.
    (own / "zz_dev_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    workdir = tmp_path / "empty"
    workdir.mkdir()
    where = subprocess.run(
        [python, "-c", "import dify_meter; print(dify_meter.__file__)"],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(own)

    demo = subprocess.run(
        [venv / "bin" / "dify-meter", "demo", "--days", "1", "--home", "demo"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "exact match" in demo.stdout
    assert (workdir / "demo" / "dagster_home" / "dagster.yaml").read_text().startswith("# managed by dify-meter")
