"""The Dagster home of dify-meter: DAGSTER_HOME (or data/dagster_home) with the packaged dagster.yaml and
workspace.yaml, so commands work from a wheel install without a checkout."""

from __future__ import annotations

import hashlib
import os
from importlib.resources import files
from pathlib import Path

DEFAULT_HOME = Path("data/dagster_home")
MANAGED_MARKER = "# managed by dify-meter"
# dagster.yaml as earlier releases copied it (no marker): still ours, so it is updated too.
_UNMARKED_RELEASES = {"8955a1121ac373ba5ccb071927255675ed63d766dab678a1454035f9e7db3bcd"}


def template(name: str) -> str:
    return files("dify_meter.defs").joinpath("templates", name).read_text()


def ensure_dagster_home(home: Path | None = None) -> Path:
    """Create the home if needed and bring its managed files up to date; set DAGSTER_HOME to it."""
    home = (home or Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME)).resolve()
    home.mkdir(parents=True, exist_ok=True)
    _write_managed(home / "dagster.yaml", instance_settings())
    _write_managed(home / "workspace.yaml", template("workspace.yaml"))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def instance_settings() -> str:
    """dagster.yaml: SQLite under the home, or PostgreSQL storage when DAGSTER_PG_URL is set. The URL itself
    stays in the environment (the file names the variable), and a managed file follows a change either way."""
    text = template("dagster.yaml")
    return text + template("dagster_postgres.yaml") if os.environ.get("DAGSTER_PG_URL", "").strip() else text


def workspace_file(home: Path) -> Path:
    return home / "workspace.yaml"


def _write_managed(path: Path, text: str) -> None:
    """A file that still carries the marker (or an unmarked earlier release's exact text) is ours to
    replace; one whose marker the user deleted is theirs and stays as it is."""
    if path.exists():
        current = path.read_text()
        ours = current.startswith(MANAGED_MARKER) or hashlib.sha256(current.encode()).hexdigest() in _UNMARKED_RELEASES
        if not ours or current == text:
            return
    path.write_text(text)
