"""`dify-meter start`: with SCHEDULE_ENABLED=true, the Dagster webserver and daemon (`dagster dev`), so the
daily schedule and the spool replay sensor fire; otherwise one default export and how to turn the schedule on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType

from dify_meter.cli.main import EXIT_FAILED, EXIT_OK
from dify_meter.settings import Settings

DEFAULT_PORT = 3000
# dagster dev waits up to 60 s for each of its two processes to stop; past that, they are killed.
STOP_TIMEOUT_SECONDS = 150.0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "start",
        help="run the Dagster webserver and daemon (SCHEDULE_ENABLED=true), else export once",
        description="With SCHEDULE_ENABLED=true: `dagster dev` on the workspace.yaml it writes into "
        "DAGSTER_HOME (default data/dagster_home), so daily_usage_schedule and spool_replay_sensor run; stop it "
        "with Ctrl-C. Otherwise: one `dify-meter export` with the default range, mode and period.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"webserver port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="webserver address (default 127.0.0.1)")
    parser.set_defaults(handler=run_start)


def run_start(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    if not settings.schedule_enabled:
        from dify_meter.cli.export import export_from_defaults

        code = export_from_defaults(settings)
        print(
            "\nThe daily schedule is off. To run it, set SCHEDULE_ENABLED=true and run `dify-meter start` again: "
            "it starts the Dagster webserver and daemon, and daily_usage_schedule runs at "
            f"'{settings.schedule_cron}' ({settings.dify_timezone})."
        )
        return code
    return serve(args.host, args.port, settings)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the services the way Ctrl-C does


def serve(host: str, port: int, settings: Settings) -> int:
    """Run `dagster dev` until it stops or this process is interrupted (Ctrl-C, SIGTERM)."""
    from dify_meter.defs.code_location import build_definitions
    from dify_meter.defs.instance import ensure_dagster_home, workspace_file
    from dify_meter.defs.runs import fail_stale_runs_in_dagster_home

    home = ensure_dagster_home()
    for run_id in fail_stale_runs_in_dagster_home(build_definitions(settings)).failed:
        print(
            f"Run {run_id} was still marked in progress but its process is gone: marked failed, its DuckDB slot freed."
        )
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace_file(home)),
        "--host",
        host,
        "--port",
        str(port),
    ]
    print(
        f"Starting the Dagster webserver on http://{host}:{port} and the daemon (DAGSTER_HOME={home}); Ctrl-C stops "
        "them.",
        flush=True,
    )
    # A process started in the background by a shell ignores SIGINT, and so would dagster dev: handling it
    # here makes the child start with the default, so the SIGINT forwarded to it stops it.
    previous_interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_terminate = signal.signal(signal.SIGTERM, _interrupt)
    # Its own session: a terminal's Ctrl-C reaches only this process, which then stops dagster dev in order
    # (it shuts down the webserver and daemon itself); the session lets a stuck tree be killed as a whole.
    dev = subprocess.Popen(command, env={**os.environ, "DAGSTER_HOME": str(home)}, start_new_session=True)
    try:
        code = dev.wait()
        print(f"dagster dev exited with code {code}.")
        return EXIT_OK if code == 0 else EXIT_FAILED
    except KeyboardInterrupt:
        print("Stopping the Dagster webserver and daemon ...", flush=True)
        return _stop(dev)
    finally:
        signal.signal(signal.SIGTERM, previous_terminate)
        signal.signal(signal.SIGINT, previous_interrupt)


def _stop(dev: subprocess.Popen) -> int:
    dev.send_signal(signal.SIGINT)
    try:
        dev.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"dagster dev did not stop within {STOP_TIMEOUT_SECONDS:.0f} s: killing it and its processes.")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGKILL)  # anything of its session still there
        dev.wait()
    print("Stopped.")
    return EXIT_OK
