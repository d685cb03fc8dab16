"""Harness for the cluster tests (tests/test_profiles.py): a throw-away single-node SLURM
cluster, a moto S3 server on loopback, and a bounded way to call snakemake.

Everything here starts its own processes and stops exactly those, by pid:
- `slurm_cluster` runs tests/cluster/slurm_up.sh (munged if none is running, slurmctld,
  slurmd; their pids go to STATEDIR/pids) and tests/cluster/slurm_down.sh at the end, which
  also removes or restores exactly the /etc/slurm files slurm_up.sh created or replaced;
- `moto_s3` runs `moto_server -H 127.0.0.1 -p <free port>` as a child and terminates it;
- `run_snakemake` wraps every call in `timeout -k`, so a snakemake that waits forever on a
  job (SIGTERM does not stop it) is killed.

The tests are skipped, with the reason, when not root or when the SLURM/munge binaries are
missing; under CI (CI=true) they fail instead, because bootstrap.sh installs them there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPTS = REPO / "tests" / "cluster"
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
MOTO_SERVER = VENV_BIN / "moto_server"
SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sinfo", "squeue", "sbatch", "srun", "scancel")
#: Extra flags for the test cluster only, never in the profile: no slurmdbd, so no sacct: poll
#: squeue (slurm.conf keeps finished jobs for MinJobAge=600 s >= 3 x the first poll delay);
#: first poll after 12 s, about how long one small job takes (snakemake starts inside it);
#: keep the SLURM logs of successful jobs for the assertions.
SLURM_TEST_FLAGS = (
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "12",
    "--slurm-keep-successful-logs",
)
S3_BUCKET = "asteroid-ml-ci"


def _which(binary: str) -> str | None:
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")


def cluster_unavailable_reason() -> str | None:
    """Why the cluster tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "cluster tests start slurmctld/slurmd/munged and need root"
    missing = [b for b in SLURM_BINARIES if _which(b) is None]
    if missing:
        return (
            f"SLURM/munge binaries missing ({', '.join(missing)}); "
            "install Debian slurmctld slurmd slurm-client munge (scripts/bootstrap.sh does)"
        )
    if not SNAKEMAKE.exists() or not MOTO_SERVER.exists():
        return f"snakemake or moto_server not found next to {sys.executable}"
    if shutil.which("timeout") is None:
        return "coreutils timeout not found"
    return None


def moto_unavailable_reason() -> str | None:
    if not MOTO_SERVER.exists() or not SNAKEMAKE.exists():
        return f"snakemake or moto_server (moto[s3]) not found next to {sys.executable}"
    if shutil.which("timeout") is None:
        return "coreutils timeout not found"
    return None


def _skip_or_fail(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"cluster tests must run in CI but cannot: {reason}")
    pytest.skip(reason)


def require_cluster() -> None:
    """Skip (locally) or fail (CI=true) when the SLURM tests cannot run."""
    _skip_or_fail(cluster_unavailable_reason())


def require_moto() -> None:
    """Skip (locally) or fail (CI=true) when no moto S3 server can be started."""
    _skip_or_fail(moto_unavailable_reason())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    """Environment for snakemake calls: this venv first, no SLURM_* or S3 settings leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SNAKEMAKE_STORAGE_", "AWS_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def _stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process group of `proc` (started with a new session)."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Let a SIGTERM to pytest (CI cancel, `timeout`) run the fixture teardowns.

    pytest tears fixtures down on KeyboardInterrupt but dies silently on SIGTERM, which would
    leave the cluster daemons and /etc/slurm/slurm.conf behind.
    """

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class SnakemakeRun:
    """One finished snakemake call: the command, its exit status and its combined output."""

    args: list[str]
    returncode: int
    output: str
    seconds: float
    log_path: Path

    def check(self) -> SnakemakeRun:
        if self.returncode != 0:
            tail = "\n".join(self.output.splitlines()[-60:])
            timed_out = " (timed out)" if self.returncode in (124, 137) else ""
            raise AssertionError(
                f"snakemake exited {self.returncode}{timed_out} after {self.seconds:.0f} s: "
                f"{' '.join(self.args)}\n--- last lines of {self.log_path} ---\n{tail}"
            )
        return self


def run_snakemake(
    args: Sequence[str],
    workdir: Path,
    *,
    targets: Sequence[str] = (),
    timeout_s: int,
    env: dict[str, str] | None = None,
    log_name: str = "snakemake.log",
) -> SnakemakeRun:
    """Run the repository's workflow in `workdir`, bounded by `timeout -k 15 timeout_s`.

    The Snakefile is given explicitly, the working directory is `workdir` (so results/ of the
    checkout is never touched); stdin is closed, as in CI. The combined output is also written
    to workdir/log_name.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "timeout",
        "-k",
        "15",
        str(timeout_s),
        str(SNAKEMAKE),
        # targets first: options such as --configfile take several values
        *targets,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    log_path = workdir / log_name
    start = time.monotonic()
    with open(log_path, "w") as log:
        # own process group: if the test is interrupted, stop timeout *and* snakemake below it
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env if env is not None else base_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait()
        except BaseException:
            _stop_process_group(proc)
            raise
    return SnakemakeRun(
        args=[str(c) for c in cmd],
        returncode=returncode,
        output=log_path.read_text(errors="replace"),
        seconds=time.monotonic() - start,
        log_path=log_path,
    )


@dataclass
class SlurmCluster:
    """The cluster slurm_up.sh started: its state directory (config, logs, pids)."""

    statedir: Path

    def job_states(self, job_ids: Sequence[str]) -> dict[str, str]:
        """State of each job as `squeue --states=all` reports it (finished jobs stay MinJobAge)."""
        out = subprocess.run(
            ["squeue", "-h", "--states=all", "-o", "%i %T", "-j", ",".join(job_ids)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    require_cluster()
    statedir = tmp_path_factory.mktemp("slurm-cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    up = subprocess.run(
        ["bash", str(CLUSTER_SCRIPTS / "slurm_up.sh"), str(statedir)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        if up.returncode != 0:
            pytest.fail(f"slurm_up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        with sigterm_as_keyboard_interrupt():
            yield SlurmCluster(statedir=statedir)
    finally:
        subprocess.run(
            ["bash", str(CLUSTER_SCRIPTS / "slurm_down.sh"), str(statedir)],
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )


@dataclass
class S3Endpoint:
    url: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """Settings for boto3 and the snakemake S3 storage plugin.

        As environment variables, because only those reach the SLURM jobs (profile keys and
        command-line flags of the storage plugin do not).
        """
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": self.url,
            "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": "testing",
            "SNAKEMAKE_STORAGE_S3_SECRET_KEY": "testing",
        }

    def client(self, service: str = "s3"):
        """A boto3 client of this moto server (it also serves IAM and Batch)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def keys(self, prefix: str) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def download(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.client().download_file(self.bucket, key, str(dest))
        return dest


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    require_moto()
    import requests

    logdir = tmp_path_factory.mktemp("moto")
    port = free_port()
    with open(logdir / "moto.log", "w") as log:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"moto_server exited {proc.returncode}: {(logdir / 'moto.log').read_text()}"
                )
            try:
                if requests.get(url, timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"moto_server on {url} did not answer within 30 s")
            time.sleep(0.2)
        endpoint = S3Endpoint(url=url, bucket=S3_BUCKET)
        endpoint.client().create_bucket(Bucket=S3_BUCKET)
        with sigterm_as_keyboard_interrupt():
            yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
