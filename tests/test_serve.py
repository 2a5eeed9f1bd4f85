"""`serve` without DATABASE_URL starts an embedded PostgreSQL, and stops it when it stops.

Invariant guarded here: after Ctrl-C (SIGINT) or SIGTERM, the server process exits cleanly
and the embedded PostgreSQL it started is no longer running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): read its state
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_its_embedded_postgres(sig: signal.Signals):
    port = free_port()
    # not pytest's tmp_path: its directories are private to root, and PostgreSQL runs as an
    # unprivileged user that must reach its data directory
    base = Path(tempfile.mkdtemp(prefix="microspace-serve-"))
    base.chmod(0o755)
    data = base / "pg"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_DATABASE_URL")}
    env.update(MICROSPACE_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # given a running server on its embedded database
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        else:
            pytest.fail("the server did not become ready")
        postgres_pid = int((data / "postmaster.pid").read_text().split()[0])
        assert _alive(postgres_pid)

        # when it is told to stop
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)

        # then it exits cleanly and its PostgreSQL is gone with it
        assert proc.returncode == 0, output
        assert "embedded PostgreSQL stopped" in output
        assert "Traceback" not in output, output
        for _ in range(50):
            if not _alive(postgres_pid):
                break
            time.sleep(0.1)
        assert not _alive(postgres_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
