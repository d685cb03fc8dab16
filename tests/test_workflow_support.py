"""A rule job stops within seconds when the process that started it ends (Snakemake killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

JOB = textwrap.dedent(
    """
    import sys, time, types
    from asteroid_ml.io import atomic_output
    from asteroid_ml.workflow_support import rule_logging

    smk = types.SimpleNamespace(log=[], rule="sleeper")
    with rule_logging(smk):
        with atomic_output(sys.argv[1]) as tmp:
            tmp.write_text("partial")
            time.sleep(60)
    """
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_job_stops_when_its_parent_is_killed(tmp_path):
    """Parent (stands for Snakemake) -> shell -> python job; SIGKILL the parent: the job
    stops within a few seconds, and its atomic output leaves no file behind."""
    out = tmp_path / "out.txt"
    job = tmp_path / "job.py"
    job.write_text(JOB)
    pidfile = tmp_path / "job.pid"
    parent_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen(['/bin/sh', '-c', 'echo $$ >/dev/null; exec {sys.executable} {job} {out} & "
        f"echo $! > {pidfile}; wait'])\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], start_new_session=True)
    try:
        deadline = time.time() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.time() < deadline:
            time.sleep(0.1)
        job_pid = int(pidfile.read_text())
        time.sleep(3)  # the job is inside its atomic write
        assert _alive(job_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        stopped = time.time()
        while _alive(job_pid) and time.time() - stopped < 10:
            time.sleep(0.1)
        assert not _alive(job_pid), "the job outlived its parent"
        assert time.time() - stopped < 5
        assert not out.exists() and not list(tmp_path.glob(".out.txt.*"))
    finally:
        os.killpg(parent.pid, signal.SIGKILL) if _alive(parent.pid) else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
