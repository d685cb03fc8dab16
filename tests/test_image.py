"""The job image (containers/Dockerfile, built by `make image`) running the workflow.

- The test config's whole DAG runs inside the image, the checkout mounted read-only and the
  working directory on a writable mount; its deterministic outputs (simulation and ephemeris
  shards, the dataset) are byte-identical to the same targets run on the host.
- An AWS Batch job as Batch would run it: `snakemake --profile profiles/aws-batch` submits one
  rule to a moto Batch endpoint, so the aws-batch executor plugin registers the job definition
  it builds (image, command, environment). That command runs in the image against moto's S3:
  its input comes from the bucket, its output lands there (byte-identical to the host's), and
  nothing of results/ is left in the container.

Needs podman and the image of this commit (`make image`). Without them the tests skip, unless
ASTEROID_ML_REQUIRE_IMAGE=1 (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_cluster import REPO, S3Endpoint, base_env, run_snakemake  # noqa: E402

pytest_plugins = ["conftest_cluster"]
pytestmark = pytest.mark.slow

TEST_CONFIG = "config/test.yaml"
BUILD = REPO / "build" / "image"
DAG_TIMEOUT_S = 1500
JOB_TIMEOUT_S = 600
# the deterministic outputs compared byte for byte (the trained models and their scores
# depend on thread scheduling, so they are left out)
DETERMINISTIC = ("results/sim", "results/ephemerides", "results/dataset")
BATCH_RULE_OUTPUT = "results/ephemerides/background/shard-0000.parquet"
BATCH_RULE_INPUT = "results/sim/background/shard-0000.parquet"


def podman_env() -> dict[str, str]:
    """This machine's podman settings, as `make image` wrote them (runc, ulimits)."""
    env = dict(os.environ)
    conf = BUILD / "containers.conf"
    if conf.exists():
        env["CONTAINERS_CONF"] = str(conf)
    return env


def podman(*args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env()
    )
    if check and result.returncode != 0:
        pytest.fail(f"podman {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    tag = f"localhost/asteroid-ml:{sha}"
    missing = None
    if shutil.which("podman") is None:
        missing = "podman is not installed"
    elif podman("image", "exists", tag, check=False).returncode != 0:
        missing = f"no image {tag}: run `make image`"
    if missing:
        if os.environ.get("ASTEROID_ML_REQUIRE_IMAGE") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return tag


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under the deterministic output folders, by relative path."""
    out = {}
    for folder in DETERMINISTIC:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def host_run(tmp_path_factory) -> Path:
    """The deterministic targets of the test DAG, run on the host."""
    workdir = tmp_path_factory.mktemp("host")
    run_snakemake(
        ["--cores", "2", "--configfile", str(REPO / TEST_CONFIG)],
        workdir,
        targets=["assemble_dataset"],
        timeout_s=DAG_TIMEOUT_S,
        env=base_env(),
    ).check()
    return workdir


def test_the_test_dag_in_the_image_matches_the_host(image, host_run, tmp_path):
    workdir = tmp_path / "in-image"
    workdir.mkdir()
    workdir.chmod(0o777)  # the image's user (uid 1000) writes here
    run = podman(
        "run", "--rm", "--network=none",
        "-v", f"{REPO}:/repo:ro", "-v", f"{workdir}:/out:rw",
        image,
        "snakemake", "--snakefile", "/repo/Snakefile", "--directory", "/out",
        "--configfile", f"/repo/{TEST_CONFIG}", "--cores", "2",
        timeout=DAG_TIMEOUT_S,
    )  # fmt: skip
    assert "steps (100%) done" in run.stderr, run.stderr[-3000:]
    # the whole DAG: the end of the chain is there
    assert (workdir / "results" / "eval" / "summary.csv").stat().st_size > 0
    assert list((workdir / "results" / "figures").glob("*.png"))
    inside, host = digests(workdir), digests(host_run)
    assert host and any(k.startswith("results/dataset/") for k in host)
    assert {name: inside.get(name) for name in host} == host


@pytest.fixture(scope="module")
def batch_queue(moto_s3: S3Endpoint) -> tuple[str, str]:
    """A Batch job queue and job role on the moto server (Batch without Docker: moto marks a
    submitted job done; the test runs its command in the image itself)."""
    import requests

    requests.post(f"{moto_s3.url}/moto-api/config", json={"batch": {"use_docker": False}})
    role = moto_s3.client("iam").create_role(
        RoleName="asteroid-ml-batch-job", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    batch = moto_s3.client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="asteroid-ml-ce", type="UNMANAGED", state="ENABLED",
        serviceRole=role,
    )["computeEnvironmentArn"]  # fmt: skip
    queue = batch.create_job_queue(
        jobQueueName="asteroid-ml", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueArn"]  # fmt: skip
    return queue, role


def checkout_copy(dest: Path) -> Path:
    """The checkout's tracked files (working tree) in a new git repository, where a user would
    run snakemake."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    # Snakemake ships the git-tracked files to a Batch job (run from a git checkout)
    for git in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *git], cwd=dest, check=True, capture_output=True)
    return dest


def test_an_aws_batch_job_runs_in_the_image_from_s3_to_s3(
    image, host_run, moto_s3: S3Endpoint, batch_queue, tmp_path
):
    queue, role = batch_queue
    prefix = "batch-image"
    client = moto_s3.client()
    client.upload_file(
        str(host_run / BATCH_RULE_INPUT), moto_s3.bucket, f"{prefix}/{BATCH_RULE_INPUT}"
    )
    batch = moto_s3.client("batch")
    known = {d["jobDefinitionArn"] for d in batch.describe_job_definitions()["jobDefinitions"]}
    checkout = checkout_copy(tmp_path / "checkout")
    env = {**base_env(), **moto_s3.env, "AWS_ENDPOINT_URL_BATCH": moto_s3.url}
    cmd = [
        str(Path(sys.executable).with_name("snakemake")), BATCH_RULE_OUTPUT,
        "--profile", "profiles/aws-batch", "--configfile", TEST_CONFIG,
        "--default-storage-prefix", f"s3://{moto_s3.bucket}/{prefix}",
        "--aws-batch-job-queue", queue, "--aws-batch-job-role", role,
        "--container-image", image, "--latency-wait", str(JOB_TIMEOUT_S),
    ]  # fmt: skip
    log = open(tmp_path / "snakemake.log", "w")  # noqa: SIM115 (closed below)
    submitter = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # the job definition the plugin registered for the one job
        deadline = time.monotonic() + 120
        while True:
            new = [
                d for d in batch.describe_job_definitions()["jobDefinitions"]
                if d["jobDefinitionArn"] not in known
            ]  # fmt: skip
            if new or submitter.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(new) == 1, (tmp_path / "snakemake.log").read_text()[-4000:]
        props = new[0]["containerProperties"]
        assert props["image"] == image
        assert props["command"][:2] == ["/bin/bash", "-c"]
        assert "--target-jobs 'ephemerides:" in props["command"][2]
        # Batch runs the container with the definition's environment and command. This
        # machine's network reaches PyPI (the plugin's job starts with `pip install` of the
        # storage plugin) only through the host's CA bundle.
        args = ["run", "--name", "asteroid-ml-batch-job", "--network=host"]
        for pair in props["environment"]:
            args += ["-e", f"{pair['name']}={pair['value']}"]
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if ca.exists():
            args += ["-v", f"{ca}:/run/host-ca.crt:ro", "-e", "PIP_CERT=/run/host-ca.crt"]
        job = podman(*args, image, *props["command"], timeout=JOB_TIMEOUT_S, check=False)
        changed = podman("diff", "asteroid-ml-batch-job").stdout.split("\n")
        podman("rm", "asteroid-ml-batch-job")
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-6000:]
        assert submitter.wait(timeout=JOB_TIMEOUT_S) == 0, (tmp_path / "snakemake.log").read_text()[
            -4000:
        ]
    finally:
        if submitter.poll() is None:
            submitter.kill()
        log.close()
    # the output is in the bucket, the same bytes as the host's; the container kept none
    got = moto_s3.download(f"{prefix}/{BATCH_RULE_OUTPUT}", tmp_path / "got.parquet")
    assert got.read_bytes() == (host_run / BATCH_RULE_OUTPUT).read_bytes()
    kept = [line for line in changed if "/results/" in line and line.endswith(".parquet")]
    assert not kept, kept
    local = [p for p in (checkout / "results").rglob("*") if p.is_file() and p.name != ".gitkeep"]
    assert not local, local
