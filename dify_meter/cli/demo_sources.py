"""Where `dify-meter demo` serves its generated workspace from: the console simulator, or Dify's real schema
on an embedded PostgreSQL (`--source database`). Each gives the variables that point the export at it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

from dify_meter.sandbox.dify.pg_rows import write_workspace
from dify_meter.sandbox.dify.postgres import SCHEMA_1_16_1, EmbeddedPostgres, create_dify_database
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.workspace import Workspace

# Variables a demo sets or must not inherit: each demo source says where Dify is, and nothing else may.
DIFY_LOCATION_VARIABLES = (
    "DIFY_SOURCE",
    "DIFY_API_URL",
    "DIFY_API_KEY",
    "DIFY_EMAIL",
    "DIFY_PASSWORD",
    "DIFY_WORKSPACE_ID",
    "DIFY_DATABASE_URL",
)


class ConsoleDemo:
    def __init__(self, workspace: Workspace) -> None:
        self.simulator = DifySimulator(workspace)

    def __enter__(self) -> ConsoleDemo:
        self.simulator.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.simulator.__exit__(None, None, None)

    @property
    def environment(self) -> dict[str, str]:
        return {
            "DIFY_SOURCE": "console",
            "DIFY_API_URL": self.simulator.base_url,
            "DIFY_API_KEY": self.simulator.api_key,
            "DIFY_WORKSPACE_ID": self.simulator.workspace_id,
        }

    @property
    def description(self) -> str:
        return f"Dify simulator on {self.simulator.base_url}"

    def read_cost(self) -> str:
        return f"{len(self.simulator.request_log)} Dify requests"


class DatabaseDemo:
    """The workspace as rows of Dify 1.16.1's tables in a PostgreSQL of its own, removed at exit. The export reads
    it as the database source does any Dify's: in READ ONLY transactions (the demo's role is the superuser)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        # Not under the demo folder: when run as root the server runs as another user, who needs the path.
        self.root = Path(tempfile.mkdtemp(prefix="dify-meter-demo-postgres-"))
        self.server = EmbeddedPostgres(self.root, password="demo-postgres-pw")  # a throwaway server's
        self.url = ""
        self.rows = 0

    def __enter__(self) -> DatabaseDemo:
        try:
            self.server.start()
            self.url = create_dify_database(self.server, "dify", SCHEMA_1_16_1, "1.16.1")
            with psycopg.connect(self.url) as connection:
                self.rows = sum(write_workspace(connection, self.workspace).values())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def environment(self) -> dict[str, str]:
        return {"DIFY_SOURCE": "database", "DIFY_DATABASE_URL": self.url, "DIFY_WORKSPACE_ID": self.workspace.tenant.id}

    @property
    def description(self) -> str:
        return (
            f"Dify's database (Dify 1.16.1 schema, {self.rows:,} rows) on an embedded PostgreSQL at "
            f"127.0.0.1:{self.server.port}"
        )

    def read_cost(self) -> str:
        return "read-only from Dify's PostgreSQL, no console request"


DEMO_SOURCES: dict[str, type[ConsoleDemo] | type[DatabaseDemo]] = {"console": ConsoleDemo, "database": DatabaseDemo}
