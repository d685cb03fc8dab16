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
    # the stand-in's command line names snakemake: jobs watch their ancestors up to it
    parent = subprocess.Popen([sys.executable, "-c", parent_code, "snakemake-stand-in"],
                              start_new_session=True)  # fmt: skip
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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.slow
def test_job_survives_the_shell_that_launched_snakemake(tmp_path):
    """launcher (a login shell; nohup ... &) -> Snakemake stand-in -> shell -> python job;
    the launcher exits (SIGKILL, as a closed terminal): the job goes on, since only the
    processes up to Snakemake own it; then killing Snakemake still stops it."""
    out = tmp_path / "out.txt"
    job = tmp_path / "job.py"
    job.write_text(JOB)
    pidfile, smkfile = tmp_path / "job.pid", tmp_path / "smk.pid"
    smk_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen(['/bin/sh', '-c', 'exec {sys.executable} {job} {out} & "
        f"echo $! > {pidfile}; wait'])\n"
        "time.sleep(120)\n"
    )
    launcher_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {smk_code!r}, 'snakemake-stand-in'])\n"
        f"open({str(smkfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", launcher_code], start_new_session=True)
    try:
        deadline = time.time() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.time() < deadline:
            time.sleep(0.1)
        job_pid, smk_pid = int(pidfile.read_text()), int(smkfile.read_text())
        time.sleep(2)
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=10)
        time.sleep(4)  # the watchdog looks every second
        assert _alive(job_pid), "the job died with the shell that launched Snakemake"
        os.kill(smk_pid, signal.SIGKILL)
        stopped = time.time()
        while _alive(job_pid) and time.time() - stopped < 10:
            time.sleep(0.1)
        assert not _alive(job_pid), "the job outlived Snakemake"
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.workflow
def test_ctrl_c_prints_one_line_per_failed_job(tmp_path):
    """Ctrl-C in a terminal (SIGINT to the whole process group) while AMUSE simulation jobs run:
    no traceback on the console, one line of ours per failed job, the traceback in the job's
    log, no AMUSE worker left and no partial output."""
    # impactors over 2,000 yr: each shard runs for tens of seconds
    longer = tmp_path / "longer.yaml"
    longer.write_text("simulation: {impactor: {n: 100, shards: 2, window_end_years: 2000}}\n")
    cmd = [
        str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "test.yaml"),
        str(longer), "--cores", "2", "results/sim/impactor/shard-0000.parquet",
        "results/sim/impactor/shard-0001.parquet",
    ]  # fmt: skip
    run = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_terminal_sigint,
    )  # fmt: skip
    logs = tmp_path / "results" / "logs" / "simulate"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
            "reversed time" in p.read_text() for p in logs.glob("*.log")
        ):
            time.sleep(0.2)
        time.sleep(1)  # AMUSE workers are up and integrating
        workers = _descendants(run.pid)
        os.killpg(run.pid, signal.SIGINT)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-4000:]
    ours = [line for line in output.splitlines() if line.startswith("rule simulate failed")]
    failed = output.count("Error in rule simulate")
    assert failed >= 1 and len(ours) == failed, output[-4000:]
    for line in ours:
        assert "interrupted (Ctrl-C) (traceback: results/logs/simulate/" in line
        log = tmp_path / line.rsplit("traceback: ", 1)[1].rstrip(")")
        assert "KeyboardInterrupt" in log.read_text()
    time.sleep(1)
    assert not [pid for pid in workers if _alive(pid)], "a job's child process outlived it"
    assert not list((tmp_path / "results" / "sim").rglob("*.parquet"))


def _terminal_sigint() -> None:
    """SIGINT as a terminal's foreground job has it: a run started in the background by a
    non-interactive shell (CI) inherits it ignored, and Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_ctrl_c_still_stops_python_after_a_rebound_integration():
    """REBOUND takes SIGINT in its integrate() and keeps it; our wrapper gives it back."""
    import rebound

    from asteroid_ml.simulation.rebound_support import integrate

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        sim = rebound.Simulation()
        sim.add(m=1.0)
        sim.add(m=1e-3, a=1.0)
        integrate(sim, 1.0)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_progress_heartbeat_logs_at_a_steady_interval(caplog):
    """A step that cannot report progress (one long AMUSE call) still logs a line per interval."""
    import logging

    from asteroid_ml.workflow_support import progress_heartbeat

    logger = logging.getLogger("asteroid_ml.test.heartbeat")
    with caplog.at_level("INFO"), progress_heartbeat(logger, lambda t: f"alive {t:.1f}", 0.1):
        time.sleep(0.55)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alive")]
    assert 4 <= len(lines) <= 6, lines
    elapsed = [float(line.split()[1]) for line in lines]
    assert elapsed == sorted(elapsed) and elapsed[0] == pytest.approx(0.1, abs=0.05)


def test_failure_line_is_one_write_cut_to_a_pipe_buffer(tmp_path):
    """A failing job prints exactly one line, ``rule <name> failed: <cause> (traceback: <log>)``,
    exits 1, and a message longer than a pipe buffer is cut so that the line stays one
    write(2) (jobs failing together share one pipe)."""
    import select

    job = tmp_path / "job.py"
    job.write_text(textwrap.dedent(
        """
        import types
        from asteroid_ml.workflow_support import rule_logging

        smk = types.SimpleNamespace(log=["job.log"], rule="failing")
        with rule_logging(smk):
            raise ValueError("bad field\\nsecond line " + "x" * 10000)
        """
    ))  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(job)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    ours = [line for line in done.stderr.splitlines() if line.startswith("rule failing failed")]
    assert len(ours) == 1, done.stderr[-2000:]
    assert ours[0].startswith("rule failing failed: ValueError: bad field; second line xxx")
    assert ours[0].endswith("...") and len(ours[0].encode()) + 1 <= select.PIPE_BUF
    assert "Traceback" not in done.stderr
    assert "x" * 10000 in (tmp_path / "job.log").read_text()


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_background_run_outlives_the_shell_that_started_it(tmp_path):
    """``nohup snakemake ... &`` from a shell that exits at once (a logout): the real
    Snakemake's job finishes and writes its output (jobs had watched the launching shell
    and stopped 6 s after it exited)."""
    # an impactor shard over 500 yr: the job runs for many seconds after the shell is gone
    target = "results/sim/impactor/shard-0000.parquet"
    longer = tmp_path / "longer.yaml"
    longer.write_text("simulation: {impactor: {n: 40, shards: 2, window_end_years: 500}}\n")
    snakemake = Path(sys.executable).with_name("snakemake")
    script = (
        f"cd {tmp_path}\n"
        f"nohup {snakemake} {target} --snakefile {REPO / 'Snakefile'} "
        f"--cores 1 --configfile {REPO / 'config' / 'test.yaml'} {longer} > run.log 2>&1 &\n"
        "echo $! > snakemake.pid\n"
        # exit (a logout) once the first job runs, as a terminal closed after starting it
        "until [ -s results/logs/simulate/impactor-0000.log ]; do sleep 0.1; done\n"
        "exit 0\n"
    )
    shell = subprocess.run(["/bin/bash", "-c", script], timeout=120, start_new_session=True)
    assert shell.returncode == 0
    log = tmp_path / "run.log"
    pid = int((tmp_path / "snakemake.pid").read_text())
    deadline = time.time() + 240
    while time.time() < deadline and _alive(pid):
        time.sleep(1)
    text = log.read_text()
    assert "steps (100%) done" in text, text[-3000:]
    assert (tmp_path / target).stat().st_size > 0
    assert "parent process" not in text
