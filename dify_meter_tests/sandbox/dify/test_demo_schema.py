"""The Dify DDL the package ships for `dify-meter demo --source database` is the recorded 1.16.1 schema, unchanged:
a deliberate copy (the wheel carries no recording), kept equal here."""

from dify_meter.sandbox.dify.postgres import SCHEMA_1_16_1
from dify_meter_tests.support.fixture_files import fixtures_dir


def test_the_demo_schema_is_the_recorded_1_16_1_ddl() -> None:
    recorded = fixtures_dir("1.16.1") / "database" / "schema.sql"
    assert SCHEMA_1_16_1.read_bytes() == recorded.read_bytes()
