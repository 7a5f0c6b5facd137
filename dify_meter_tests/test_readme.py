"""Every command the README shows exists as written (the commands themselves run in other tests and CI)."""

import re
import shlex
from pathlib import Path

from dify_meter.cli.main import build_parser
from dify_meter.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def shell_lines() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = []
    for block in blocks:
        for line in block.splitlines():
            for command in line.split("&&"):
                words = shlex.split(command, comments=True)
                if words:
                    lines.append(words)
    return lines


def test_every_dify_meter_command_parses():
    commands = [words for words in shell_lines() if words[0] == "dify-meter"]
    assert len(commands) >= 8
    for words in commands:
        build_parser().parse_args(words[1:])  # exits (fails the test) on an unknown command or option


def test_every_make_target_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = {word for words in shell_lines() if words[0] == "make" for word in words[1:]}
    assert {"demo", "test"} <= targets
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), f"make {target} is not defined"


def test_every_dagster_command_names_real_assets_and_the_module():
    asset_names = {key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys()}
    materialize = [words for words in shell_lines() if words[:3] == ["dagster", "asset", "materialize"]]
    assert materialize
    for words in materialize:
        assert words[words.index("-m") + 1] == "dify_meter.definitions"
        selection = words[words.index("--select") + 1]
        assert selection.rstrip("*") in asset_names
    assert ["dagster", "dev", "-w", "workspace.yaml"] in shell_lines()


def test_every_setting_is_in_the_configuration_table():
    from dify_meter.settings import Settings

    table = (ROOT / "docs" / "configuration.md").read_text()
    rows = set(re.findall(r"^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \|", table, flags=re.M))
    documented = {name for row in rows for name in re.findall(r"`([A-Z_]+)`", row)}
    assert {name.upper() for name in Settings.model_fields} == documented
    assert "docs/configuration.md" in README
