"""The execution profiles against real engines (issue #8).

- profiles/slurm on a real single-node SLURM cluster started by the harness: every job is a
  SLURM job (job id in the log, COMPLETED in `squeue --states=all`), outputs are correct;
- S3 default storage on a moto server on loopback: outputs land in the bucket and nothing
  on local disk; then SLURM and S3 together;
- profiles/aws-batch --dry-run against the moto endpoint plans every job of the test DAG;
- profiles/gpu-local --dry-run: the training rules hold the GPU resource, nothing else does.

The SLURM-only and S3-only runs execute the simulate + ephemerides sub-DAG of
config/test.yaml (`sim_targets`, 6 jobs in 2 waves); the SLURM + S3 run executes the whole test
DAG (rule all, simulation to figures), every job a SLURM job and every output in the bucket.
Each SLURM job starts snakemake inside the job and is polled by squeue, so a wave of jobs costs
~30 s. The dry-runs cover the whole DAG. The harness (tests/conftest_cluster.py, tests/cluster/*.sh) stops only what it
started and bounds every snakemake call with `timeout -k`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from asteroid_ml.figures.registry import FIGURES as FIGURE_NAMES
from asteroid_ml.registry import MODELS

sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest.register_assert_rewrite("conftest_cluster")
from conftest_cluster import (  # noqa: E402
    REPO,
    SLURM_TEST_FLAGS,
    S3Endpoint,
    SlurmCluster,
    base_env,
    run_snakemake,
)

# the fixtures slurm_cluster and moto_s3
pytest_plugins = ["conftest_cluster"]

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
try:  # under pytest-xdist (--dist loadgroup) keep these tests on one worker: one cluster
    import xdist  # noqa: F401

    pytestmark.append(pytest.mark.xdist_group("cluster"))
except ImportError:
    pass

TEST_CONFIG = REPO / "config" / "test.yaml"
POPULATIONS = ("impactor", "background")
TRAINING_RULES = {"train_detector", "train_impactor", "train_series"}
SIM_COLUMNS = {
    "object_id", "population", "epoch_jd_tdb", "a_au", "e", "i_deg", "om_deg", "w_deg",
    "ma_deg", "x_au", "y_au", "z_au", "vx_au_d", "vy_au_d", "vz_au_d", "H_mag",
}  # fmt: skip
EPHEMERIS_COLUMNS = {
    "object_id", "population", "obs_index", "obs_jd_tdb", "ra_deg", "dec_deg",
    "rate_arcsec_min", "pa_deg", "r_au", "delta_au", "phase_deg", "V_mag", "H_mag",
}  # fmt: skip
# generous bounds: a stuck job fails the test instead of hanging CI
SLURM_TIMEOUT_S = 300
FULL_DAG_TIMEOUT_S = 1200
LOCAL_TIMEOUT_S = 240
DRY_RUN_TIMEOUT_S = 120


def load_test_config() -> dict:
    from asteroid_ml.config import load_config

    return load_config(TEST_CONFIG)


def sim_targets(config: dict) -> list[str]:
    """Every simulation and ephemeris shard of the config (the executed sub-DAG)."""
    targets = []
    for population in POPULATIONS:
        for i in range(config["simulation"][population]["shards"]):
            targets.append(f"results/sim/{population}/shard-{i:04d}.parquet")
            targets.append(f"results/ephemerides/{population}/shard-{i:04d}.parquet")
    return targets


def config_args() -> list[str]:
    return ["--configfile", str(TEST_CONFIG)]


def read_stage(root: Path, stage: str, population: str) -> pd.DataFrame:
    files = sorted((root / "results" / stage / population).glob("shard-*.parquet"))
    assert files, f"no {stage} shards for {population} under {root}"
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def check_sim_outputs(root: Path, config: dict) -> dict[str, pd.DataFrame]:
    """Content of the simulate + ephemerides outputs under root/results against the config."""
    frames: dict[str, pd.DataFrame] = {}
    for population in POPULATIONS:
        n_objects = config["simulation"][population]["n"]
        sim = read_stage(root, "sim", population)
        assert SIM_COLUMNS <= set(sim.columns), SIM_COLUMNS - set(sim.columns)
        assert len(sim) == n_objects
        assert sim["object_id"].is_unique
        assert set(sim["population"]) == {population}
        assert ((sim["a_au"] > 0) & (sim["e"] >= 0) & sim["i_deg"].between(0, 180)).all()
        eph = read_stage(root, "ephemerides", population)
        assert EPHEMERIS_COLUMNS <= set(eph.columns), EPHEMERIS_COLUMNS - set(eph.columns)
        assert set(eph["object_id"]) == set(sim["object_id"])
        assert eph["ra_deg"].between(0, 360).all() and eph["dec_deg"].between(-90, 90).all()
        assert (eph["delta_au"] > 0).all()
        frames[f"sim/{population}"] = sim.sort_values("object_id", ignore_index=True)
        frames[f"ephemerides/{population}"] = eph.sort_values(
            ["object_id", "obs_index"], ignore_index=True
        )
    return frames


def assert_same_frames(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        pd.testing.assert_frame_equal(got[key], want[key], check_exact=False, rtol=1e-12)


def planned_jobs(log: str) -> dict[str, int]:
    """The first 'Job stats' table of a snakemake log: rule -> number of jobs."""
    match = re.search(r"Job stats:\njob\s+count\n-+\s+-+\n(.*?)\ntotal\s+(\d+)", log, re.S)
    assert match, f"no 'Job stats' table in snakemake output:\n{log[-3000:]}"
    counts = {}
    for line in match.group(1).splitlines():
        rule, count = line.split()
        counts[rule] = int(count)
    assert sum(counts.values()) == int(match.group(2))
    return counts


def assert_profile_used(log: str, name: str) -> None:
    """Snakemake says it read profiles/<name> (profiles/default follows as workflow profile)."""
    profile = re.escape(str(REPO / "profiles" / name))
    assert re.search(rf"^Using profiles? {profile}\b", log, re.M), log[:2000]


def job_blocks(log: str) -> list[tuple[str, str]]:
    """(rule, block text) of every job a dry-run prints."""
    parts = re.split(r"^(?:local)?rule (\w+):$", log, flags=re.M)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def check_slurm_jobs(run_log: str, cluster: SlurmCluster) -> list[str]:
    """Every non-local job was submitted to SLURM and finished there as COMPLETED."""
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", run_log))
    n_jobs = sum(planned_jobs(run_log).values())
    n_local = len(re.findall(r"^localrule \w+:$", run_log, flags=re.M))
    assert len(submitted) == n_jobs - n_local > 0, (
        f"{len(submitted)} SLURM submissions for {n_jobs} jobs ({n_local} local)"
    )
    slurm_ids = sorted(set(submitted.values()), key=int)
    states = cluster.job_states(slurm_ids)
    assert states == dict.fromkeys(slurm_ids, "COMPLETED"), states
    return slurm_ids


# --------------------------------------------------------------------------------------
# runs shared by several tests (each runs once per module)


@pytest.fixture(scope="module")
def test_config() -> dict:
    return load_test_config()


@pytest.fixture(scope="module")
def reference_frames() -> dict[str, dict[str, pd.DataFrame]]:
    """Checked outputs of each executed run, by run name, to compare the runs with each other."""
    return {}


def compare_with_earlier_runs(
    name: str, frames: dict[str, pd.DataFrame], reference: dict[str, dict[str, pd.DataFrame]]
) -> None:
    """Same seed and config on another executor or storage: the same numbers."""
    for earlier in reference.values():
        assert_same_frames(frames, earlier)
    reference[name] = frames


@pytest.fixture(scope="module")
def s3_local_run(
    moto_s3: S3Endpoint, tmp_path_factory, test_config, reference_frames
) -> dict[str, pd.DataFrame]:
    """The sub-DAG with S3 default storage and the local executor; its checked outputs."""
    workdir = tmp_path_factory.mktemp("s3-local")
    prefix = "local"
    run = run_snakemake(
        [
            "--cores", "2",
            *config_args(),
            "--default-storage-provider", "s3",
            "--default-storage-prefix", f"s3://{moto_s3.bucket}/{prefix}",
        ],
        workdir,
        targets=sim_targets(test_config),
        timeout_s=LOCAL_TIMEOUT_S,
        env={**base_env(), **moto_s3.env},
    ).check()  # fmt: skip
    assert "(send to storage)" in run.output
    frames = check_bucket_outputs(moto_s3, prefix, workdir, test_config, tmp_path_factory)
    compare_with_earlier_runs("s3-local", frames, reference_frames)
    return frames


def check_bucket_outputs(
    s3: S3Endpoint, prefix: str, workdir: Path, config: dict, tmp_path_factory
) -> dict[str, pd.DataFrame]:
    """Outputs are in the bucket under prefix, and nothing of results/ is on local disk."""
    assert not (workdir / "results").exists(), "outputs were written to local disk"
    local_copies = [str(p) for p in workdir.rglob("*.parquet")]
    assert not local_copies, f"local copies left behind: {local_copies}"
    keys = s3.keys(f"{prefix}/")
    missing = [t for t in sim_targets(config) if f"{prefix}/{t}" not in keys]
    assert not missing, f"not in s3://{s3.bucket}/{prefix}/: {missing}"
    logs = [k for k in keys if k.startswith(f"{prefix}/results/logs/")]
    assert logs, "rule logs did not reach the bucket"
    download = tmp_path_factory.mktemp(f"s3-{prefix}-download")
    for key in keys:
        if key.endswith(".parquet"):
            s3.download(key, download / key.removeprefix(f"{prefix}/"))
    return check_sim_outputs(download, config)


# --------------------------------------------------------------------------------------
# tests


def test_slurm_profile_runs_every_job_as_slurm_job(
    slurm_cluster: SlurmCluster, tmp_path, test_config, reference_frames
):
    run = run_snakemake(
        ["--profile", str(REPO / "profiles" / "slurm"), *SLURM_TEST_FLAGS, "--jobs", "3",
         *config_args()],
        tmp_path,
        targets=sim_targets(test_config),
        timeout_s=SLURM_TIMEOUT_S,
    ).check()  # fmt: skip
    assert_profile_used(run.output, "slurm")
    slurm_ids = check_slurm_jobs(run.output, slurm_cluster)
    # the SLURM log of each job is where the plugin said, and ran the rule inside the job
    for slurm_id in slurm_ids:
        job_logs = list((tmp_path / ".snakemake" / "slurm_logs").glob(f"rule_*/**/{slurm_id}.log"))
        assert len(job_logs) == 1, f"no SLURM log for job {slurm_id}"
        job_log = job_logs[0].read_text(errors="replace")
        assert re.search(r"^Finished jobid: \d+ \(Rule: \w+\)$", job_log, re.M), job_log[-2000:]
    frames = check_sim_outputs(tmp_path, test_config)
    compare_with_earlier_runs("slurm", frames, reference_frames)


def test_s3_default_storage_local_executor(s3_local_run):
    # the fixture ran the workflow against the bucket and checked it; here: it produced data
    assert all(len(frame) > 0 for frame in s3_local_run.values())


def test_slurm_profile_with_s3_default_storage(
    slurm_cluster: SlurmCluster, moto_s3: S3Endpoint, tmp_path, tmp_path_factory, test_config,
    s3_local_run, reference_frames,
):  # fmt: skip
    prefix = "slurm"
    # The WHOLE test DAG (rule all: simulation to figures), every job a SLURM job, every
    # output in the bucket. The S3 settings are environment variables: sbatch exports them.
    run = run_snakemake(
        ["--profile", str(REPO / "profiles" / "slurm"), *SLURM_TEST_FLAGS, "--jobs", "6",
         *config_args(), "--default-storage-provider", "s3",
         "--default-storage-prefix", f"s3://{moto_s3.bucket}/{prefix}"],
        tmp_path,
        timeout_s=FULL_DAG_TIMEOUT_S,
        env={**base_env(), **moto_s3.env},
    ).check()  # fmt: skip
    assert_profile_used(run.output, "slurm")
    slurm_ids = check_slurm_jobs(run.output, slurm_cluster)
    planned = planned_jobs(run.output)
    assert {"train_detector", "evaluate_model", "figure_roc_pr"} <= planned.keys(), planned
    assert len(slurm_ids) >= 25
    frames = check_bucket_outputs(moto_s3, prefix, tmp_path, test_config, tmp_path_factory)
    compare_with_earlier_runs("slurm-s3", frames, reference_frames)
    # the end of the chain is in the bucket too, with content
    keys = moto_s3.keys(f"{prefix}/results/")
    figures = [k for k in keys if k.startswith(f"{prefix}/results/figures/") and k.endswith(".png")]
    assert len(figures) == len(FIGURE_NAMES), figures
    summary_key = f"{prefix}/results/eval/summary.csv"
    assert summary_key in keys
    download = tmp_path_factory.mktemp("slurm-s3-eval") / "summary.csv"
    moto_s3.download(summary_key, download)
    summary = pd.read_csv(download)
    assert sorted(summary["model"]) == sorted(MODELS)
    # the tiny test config may leave the sequence stage's test sequences one class (all
    # real once edge and bad-pixel candidates are left out): no ROC-AUC then, and only there
    ranked = summary.dropna(subset=["roc_auc"])
    assert ranked["roc_auc"].between(0.5, 1.0).all(), summary
    assert set(summary.loc[summary["roc_auc"].isna(), "model"]) <= {"detector_sequence"}, summary


def test_aws_batch_profile_dry_run_plans_every_job(moto_s3: S3Endpoint, tmp_path):
    reference = run_snakemake(
        ["--cores", "2", "--dry-run", *config_args()],
        tmp_path / "reference",
        timeout_s=DRY_RUN_TIMEOUT_S,
    ).check()  # fmt: skip
    want = planned_jobs(reference.output)
    run = run_snakemake(
        ["--profile", str(REPO / "profiles" / "aws-batch"), "--dry-run", *config_args(),
         "--default-storage-prefix", f"s3://{moto_s3.bucket}/batch-dry"],
        tmp_path / "batch",
        timeout_s=DRY_RUN_TIMEOUT_S,
        env={**base_env(), **moto_s3.env},
    ).check()  # fmt: skip
    assert_profile_used(run.output, "aws-batch")
    assert "This was a dry-run" in run.output
    assert planned_jobs(run.output) == want
    blocks = job_blocks(run.output)
    assert len(blocks) == sum(want.values())
    # every output is planned in the bucket; shipped files stay local paths
    outputs = re.findall(r"^\s+output: (.*)$", run.output, flags=re.M)
    assert outputs
    for line in outputs:
        for path in line.split(", "):
            assert path.startswith(f"s3://{moto_s3.bucket}/batch-dry/results/"), path
    # shipped files (repo_file(), marked local()) are read from the checkout, not the bucket
    inputs = [p for line in re.findall(r"^\s+input: (.*)$", run.output, flags=re.M)
              for p in line.split(", ")]  # fmt: skip
    shipped = [p for p in inputs if "/resources/" in p and "batch-dry/results/" not in p]
    assert shipped, "no shipped resources/ inputs in the DAG"
    for path in shipped:
        assert path.startswith(str(REPO)) and "storage)" not in path, path
    # GPU rules carry the resource the plugin turns into a Batch GPU requirement
    assert TRAINING_RULES <= {rule for rule, _ in blocks}
    for rule, block in blocks:
        if rule in TRAINING_RULES:
            assert re.search(r"\b_gpus=1\b", block), f"{rule} lacks _gpus=1:\n{block}"


def test_gpu_local_profile_dry_run_training_rules_hold_the_gpu(tmp_path):
    run = run_snakemake(
        ["--profile", str(REPO / "profiles" / "gpu-local"), "--dry-run", *config_args()],
        tmp_path,
        timeout_s=DRY_RUN_TIMEOUT_S,
        env={**base_env(), "CUDA_VISIBLE_DEVICES": ""},
    ).check()  # fmt: skip
    assert_profile_used(run.output, "gpu-local")
    blocks = job_blocks(run.output)
    rules_with_gpu = {
        rule for rule, block in blocks if re.search(r"^\s+resources: .*\bgpu=1\b", block, re.M)
    }
    planned = {rule for rule, _ in blocks}
    assert TRAINING_RULES <= planned, f"training rules not in the DAG: {sorted(planned)}"
    assert rules_with_gpu == TRAINING_RULES
