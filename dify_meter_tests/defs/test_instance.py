"""The DAGSTER_HOME files: written from the packaged templates, updated while managed, left alone once edited."""

from pathlib import Path

import pytest

from dify_meter.defs.instance import MANAGED_MARKER, ensure_dagster_home, template

OLD_CHECKOUT_TEXT = Path(__file__).with_name("legacy_dagster.yaml")  # what homes got before the marker


@pytest.fixture(autouse=True)
def _keep_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # ensure_dagster_home sets it: undone after each test


def test_a_new_home_gets_both_templates(tmp_path: Path) -> None:
    home = ensure_dagster_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == template("dagster.yaml")
    assert "location_name: dify_meter" in (home / "workspace.yaml").read_text()


def test_a_changed_setting_reaches_a_managed_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"{MANAGED_MARKER}\ntelemetry:\n  enabled: true\n")
    ensure_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == template("dagster.yaml")


def test_a_home_from_the_unmarked_release_is_updated(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(OLD_CHECKOUT_TEXT.read_text())
    ensure_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == template("dagster.yaml")


def test_a_users_own_file_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    ensure_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == own
