"""Screenshots of the Dagster UI for the README: the asset graph, a partition's metadata and the checks.

    python scripts/screenshots.py            # writes docs/screenshots/*.png
    python scripts/screenshots.py --reuse    # photographs the last demo again, without running it

Runs `dify-meter demo` (simulated Dify and API_Meter, a real Dagster materialization), serves the UI on
the demo's DAGSTER_HOME and photographs it with a real browser: Playwright (pip install playwright)
driving the system's Chromium (Debian: apt-get install chromium; elsewhere set CHROMIUM to its path).
Run it again after UI changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "data" / "screenshots"
OUT = ROOT / "docs" / "screenshots"
DAYS = 3
# Headless as root on a closed network: no sandbox, no background connections, a fresh profile.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        sys.exit("no Chromium found: apt-get install chromium (Debian/Ubuntu), or set CHROMIUM=/path/to/chrome")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_demo() -> None:
    subprocess.run([sys.executable, "-m", "dify_meter.cli.main", "demo", "--days", str(DAYS), "--home", str(HOME)],
                   cwd=ROOT, check=True)


def serve(port: int) -> subprocess.Popen[bytes]:
    first_day = (datetime.now(UTC) - timedelta(days=DAYS)).date()
    env = {**os.environ, "DAGSTER_HOME": str(HOME / "dagster_home"),
           "DIFY_METER_DUCKDB": str(HOME / "dify_meter.duckdb"),
           "DIFY_PARTITIONS_START": (first_day - timedelta(days=30)).isoformat()}
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    os.killpg(server.pid, signal.SIGTERM)
    sys.exit("the Dagster webserver did not start within 3 minutes")


def photograph(base: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    pages = {
        "asset-graph.png": "/assets/usage_per_model?view=lineage&lineageScope=neighbors&lineageDepth=2",
        "partition-metadata.png": f"/assets/usage_per_model?view=partitions&partition={yesterday}",
        "checks.png": "/assets/raw_usage_events?view=checks",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(base + "/overview", wait_until="networkidle", timeout=120_000)
        with contextlib.suppress(PlaywrightTimeout):  # the UI's first-visit community dialog, once per profile
            page.get_by_role("button", name="Skip").click(timeout=20_000)
        for name, path in pages.items():
            page.goto(base + path, wait_until="networkidle", timeout=120_000)
            page.wait_for_timeout(3000)  # the graph lays itself out after the data arrives
            page.screenshot(path=str(OUT / name))
            print(f"wrote {OUT / name}")
        browser.close()


def main() -> None:
    chromium()  # fail before the demo if there is no browser
    if "--reuse" not in sys.argv[1:] or not (HOME / "dify_meter.duckdb").exists():
        run_demo()
    port = free_port()
    server = serve(port)
    try:
        photograph(f"http://127.0.0.1:{port}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
