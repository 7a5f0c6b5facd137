"""Progress of a run as a person reads it: one line per phase on screen, every event in a log file."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dify_meter.usage.aggregate_modes import AGGREGATE_MODES

if TYPE_CHECKING:
    from dify_meter.defs.runs import RunEvent

PHASES = {
    "raw_usage_events": "reading Dify",
    **{row.table: row.phase for row in AGGREGATE_MODES},
    "api_meter_sent": "delivering to API_Meter",
}


class RunProgress:
    """Pass as `runner.materialize(on_event=...)`; close() when the run is over. A log file that cannot be
    written (a full disk) never stops the run: `log_error` then says why the file is incomplete."""

    def __init__(self, log_path: Path, out: TextIO) -> None:
        self.log_path = log_path
        self.out = out
        self.log_error: OSError | None = None
        self._started = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w", encoding="utf-8")

    def write_log(self, text: str) -> None:
        if self.log_error is not None:
            return
        try:
            self._log.write(text)
            self._log.flush()
        except OSError as exc:
            self.log_error = exc

    @contextmanager
    def capturing_python_logs(self) -> Iterator[None]:
        """Python log records (e.g. the API_Meter sender's) go to the log file instead of the screen."""
        handler = _LogFileHandler(self)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)

    def close(self) -> None:
        try:
            self._log.close()
        except OSError as exc:
            self.log_error = self.log_error or exc

    def __call__(self, event: RunEvent) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.timestamp))
        self.write_log(
            f"{stamp}Z {event.kind} {event.step or '-'}: {event.message}\n"
            + (event.error.rstrip() + "\n" if event.error else "")
        )
        line = progress_line(event)
        if line:
            print(f"[{time.monotonic() - self._started:6.1f}s] {line}", file=self.out, flush=True)


class _LogFileHandler(logging.Handler):
    """Python log records into the run's log file; a failed write is noted there, not printed as a traceback."""

    def __init__(self, progress: RunProgress) -> None:
        super().__init__()
        self.progress = progress
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.progress.write_log(text + "\n")


def progress_line(event: RunEvent) -> str | None:
    """The line a person sees for an event, or None for the many that only go to the log file."""
    step = event.step or "run"
    if event.kind == "LOG":  # a message an asset logged: its first line, at info level or above
        if event.level < logging.INFO or not event.message.strip():
            return None
        warning = "warning: " if event.level >= logging.WARNING else ""
        return f"{step}: {warning}{_first_line(event.message)}"
    if event.kind == "STEP_START":
        return f"{step}: {PHASES.get(step, 'started')} ..."
    if event.kind == "STEP_SUCCESS":
        return f"{step}: done"
    if event.kind == "STEP_FAILURE":
        return f"{step}: FAILED"
    if event.kind == "ASSET_CHECK_EVALUATION" and not event.check_passed:
        why = f": {_first_line(event.check_result)}" if event.check_result else ""
        return f"{step}: check {event.check_name} did not pass ({event.check_severity}){why}"
    return None


def _first_line(text: str, limit: int = 240) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
