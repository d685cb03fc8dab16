"""Training stage: DataModules, augmentation, normalisation, tiny training runs, resume."""

from __future__ import annotations

import copy
import shutil
import warnings

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from asteroid_ml.config import load_config
from asteroid_ml.models.datamodules import (
    CutoutDataModule,
    ElementsDataModule,
    dihedral,
    split_labels,
)
from asteroid_ml.models.features import element_features, robust_normalise
from asteroid_ml.models.synthetic import make_synthetic_dataset
from asteroid_ml.models.training import (
    epoch_metrics,
    load_checkpoint,
    score_batches,
    train_detector,
    train_impactor,
)

warnings.filterwarnings("ignore", ".*does not have many workers.*")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Small synthetic dataset in the results/dataset format (bright trails: learnable fast)."""
    out = tmp_path_factory.mktemp("dataset")
    return make_synthetic_dataset(
        out,
        {"train": 192, "val": 64, "test": 64},
        size=32,
        seed=3,
        snr_range=(10.0, 60.0),
        n_objects=400,
    )


@pytest.fixture
def config():
    cfg = copy.deepcopy(load_config("config/test.yaml"))
    cfg["training"]["accelerator"] = "cpu"
    cfg["training"]["detector"].update(
        depth=5, width=8, hidden=16, batch_size=32, max_epochs=10, patience=50, lr=0.01
    )
    cfg["training"]["impactor"].update(max_epochs=40, patience=1000, batch_size=32)
    # The synthetic labels are defined by the node distance (models/synthetic.py), not the MOID.
    cfg["training"]["impactor"]["features"] = [
        "a_au", "e", "i_deg", "q_au", "Q_au", "sin_w", "cos_w", "node_asc_au", "node_desc_au",
        "log10_min_node_dist",
    ]  # fmt: skip
    return cfg


# --- augmentation and normalisation ----------------------------------------------------


def test_dihedral_known_array():
    a = np.array([[1, 2], [3, 4]])
    expected = {
        0: [[1, 2], [3, 4]],
        1: [[2, 4], [1, 3]],  # quarter turn counter-clockwise
        2: [[4, 3], [2, 1]],
        3: [[3, 1], [4, 2]],
        4: [[2, 1], [4, 3]],  # left-right flip
        5: [[4, 2], [3, 1]],
        6: [[3, 4], [1, 2]],
        7: [[1, 3], [2, 4]],  # transpose
    }
    for k, want in expected.items():
        np.testing.assert_array_equal(dihedral(a, k), want)
        np.testing.assert_array_equal(dihedral(torch.tensor(a), k).numpy(), want)
    # 8 distinct images of an asymmetric array: the full dihedral group.
    b = np.arange(9).reshape(3, 3)
    assert len({dihedral(b, k).tobytes() for k in range(8)}) == 8
    with pytest.raises(ValueError, match="0..7"):
        dihedral(a, 8)


def test_robust_normalise_values_and_nan():
    rng = np.random.default_rng(0)
    img = np.full((1, 16, 16), 100.0, np.float32)
    img[0, ::2] += 2.0  # half the pixels 102, half 100 -> median 101, MAD 1
    img[0, 8, 8] = 1000.0
    out = robust_normalise(img)
    sigma = 1.4826
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 1, 0], np.arcsinh(-1 / sigma), rtol=1e-5)
    np.testing.assert_allclose(out[0, 8, 8], np.arcsinh(899 / sigma), rtol=1e-5)
    # NaN-safe: blanks become 0, an all-blank cutout is all 0, no warnings.
    batch = rng.normal(0, 1, (3, 8, 8)).astype(np.float32)
    batch[1, :4] = np.nan
    batch[2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = robust_normalise(batch)
    assert np.isfinite(out).all()
    assert (out[1, :4] == 0).all() and (out[2] == 0).all()
    # Scale and offset invariance of the normalisation.
    np.testing.assert_allclose(
        robust_normalise(batch[:1] * 7 + 3), robust_normalise(batch[:1]), atol=1e-5
    )


# --- DataModules ----------------------------------------------------------------------


def test_cutout_datamodule_shapes_order_and_augmentation(dataset):
    dm = CutoutDataModule(dataset, batch_size=50, seed=11, augment=True, cache=True, num_workers=0)
    dm.setup("fit")
    images = np.load(dataset / "train.npy")
    labels = split_labels(dataset, "train", len(images))
    normalised = robust_normalise(images)

    val = list(dm.val_dataloader())
    assert [len(b[1]) for b in val] == [50, 14]
    x, y = val[0]
    assert x.shape == (50, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.float32
    val_images = robust_normalise(np.load(dataset / "val.npy"))
    np.testing.assert_allclose(x[:, 0].numpy(), val_images[:50], atol=1e-6)  # no augmentation

    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    epoch0 = list(loader)
    seen = []
    for xb, yb in epoch0:
        for img, lab in zip(xb[:, 0].numpy(), yb.numpy(), strict=True):
            # every training image is one of the 8 transforms of exactly one source cutout
            hits = [
                i
                for i in np.flatnonzero(labels == lab)
                if any(np.array_equal(img, dihedral(normalised[i], k)) for k in range(8))
            ]
            assert len(hits) >= 1
            seen.append(hits[0])
    assert sorted(seen) == list(range(len(images)))  # a permutation of the split
    # several transforms are actually used
    xb = epoch0[0][0][:, 0].numpy()
    assert sum(np.array_equal(xb[j], normalised[seen[j]]) for j in range(len(xb))) < len(xb)
    # batches depend only on (seed, epoch): same epoch again -> identical; next epoch -> different
    loader.sampler.set_epoch(0)
    again = list(loader)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epoch0, again, strict=True))
    loader.sampler.set_epoch(1)
    assert not torch.equal(next(iter(loader))[0], epoch0[0][0])


def test_datamodule_rejects_mismatched_manifest(tmp_path, dataset):
    for name in ("train.npy", "val.npy", "test.npy", "elements.parquet"):
        shutil.copy(dataset / name, tmp_path / name)
    manifest = pd.read_parquet(dataset / "manifest.parquet")
    manifest[manifest["index_in_split"] != 3].to_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(ValueError, match="index_in_split"):
        CutoutDataModule(tmp_path, 8, 0, False, False, 0).setup("fit")
    with pytest.raises(FileNotFoundError, match="missing.npy|train.npy"):
        CutoutDataModule(tmp_path / "nowhere", 8, 0, False, False, 0).setup("fit")


def test_element_features():
    table = pd.DataFrame(
        {
            "a_au": [2.0],
            "e": [0.5],
            "i_deg": [10.0],
            "om_deg": [30.0],
            "w_deg": [90.0],
            "ma_deg": [0.0],
            "q_au": [1.0],
            "H_mag": [20.0],
        }
    )
    names = ["Q_au", "node_asc_au", "node_desc_au", "min_node_dist_au", "sin_w"]
    x = element_features(table, names)
    # w = 90 deg: both nodes at the semi-latus rectum p = a (1 - e^2) = 1.5 au.
    np.testing.assert_allclose(x[0], [3.0, 1.5, 1.5, 0.5, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown element feature"):
        element_features(table, ["moid"])
    with pytest.raises(ValueError, match="non-finite"):
        element_features(table.assign(a_au=np.nan), ["a_au"])


def test_elements_datamodule(dataset):
    dm = ElementsDataModule(
        dataset / "elements.parquet", ["a_au", "e", "log10_min_node_dist"], batch_size=64, seed=0
    )
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 3) and y.shape == (64,)
    n = sum(len(t[1]) for t in dm.tensors.values())
    assert n == 400
    assert dm.std.shape == (3,) and (dm.std > 0).all()


# --- training ---------------------------------------------------------------------


def test_tiny_detector_training_converges(tmp_path, dataset, config, caplog):
    model_dir = tmp_path / "stamp_cnn"
    # one thread: on a shared 2-core machine, two torch threads can be 20x slower
    with caplog.at_level("INFO"):
        summary = train_detector(config, dataset, model_dir, threads=1)
    # Lightning's advert for its cloud logger stays out of the job logs.
    assert caplog.records and not [r for r in caplog.records if "litlogger" in r.getMessage()]
    for name in ("best.ckpt", "last.ckpt", "metrics.csv"):
        assert (model_dir / name).is_file()
    assert not (model_dir / "work").exists()
    metrics = pd.read_csv(model_dir / "metrics.csv")
    assert {"epoch", "train_loss", "val_loss"} <= set(metrics.columns)
    assert list(metrics["epoch"]) == list(range(10))
    assert metrics["train_loss"].iloc[-1] < 0.6 * metrics["train_loss"].iloc[0]
    assert summary["epochs"] == 10
    # one progress line per epoch, with the epoch's metrics (job log and console)
    progress = [r.getMessage() for r in caplog.records if "stamp_cnn epoch" in r.getMessage()]
    assert [line.split(":")[0] for line in progress] == [
        f"stamp_cnn epoch {k}/{config['training']['detector']['max_epochs']}" for k in range(1, 11)
    ]
    assert all("train_loss" in line and "val_loss" in line for line in progress)
    # accuracy on the held-out split well above chance (balanced classes)
    model = load_checkpoint(model_dir / "best.ckpt", "detector")
    test = torch.from_numpy(robust_normalise(np.load(dataset / "test.npy"))).unsqueeze(1)
    labels = split_labels(dataset, "test", len(test))
    accuracy = np.mean((score_batches(model, test) >= 0.5) == labels)
    assert accuracy > 0.8, accuracy


def test_tiny_impactor_training_converges(tmp_path, dataset, config):
    model_dir = tmp_path / "impactor_mlp"
    train_impactor(config, dataset / "elements.parquet", model_dir, threads=1)
    metrics = pd.read_csv(model_dir / "metrics.csv")
    assert metrics["train_loss"].iloc[-1] < 0.5 * metrics["train_loss"].iloc[0]
    model = load_checkpoint(model_dir / "best.ckpt", "impactor")
    table = pd.read_parquet(dataset / "elements.parquet")
    test = table[table["split"] == "test"]
    x = torch.from_numpy(element_features(test, model.hparams.features))
    accuracy = np.mean((score_batches(model, x) >= 0.5) == test["label"].to_numpy())
    assert accuracy > 0.9, accuracy


def test_checkpoint_loads_with_weights_only(tmp_path, dataset, config):
    config["training"]["impactor"]["max_epochs"] = 2
    model_dir = tmp_path / "impactor_mlp"
    train_impactor(config, dataset / "elements.parquet", model_dir)
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(model_dir / name, map_location="cpu", weights_only=True)
        assert {"state_dict", "hyper_parameters", "optimizer_states", "epoch"} <= set(ckpt)
    model = load_checkpoint(model_dir / "best.ckpt", "impactor")
    assert model.feature_std.shape == (len(config["training"]["impactor"]["features"]),)
    assert not model.training
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_checkpoint(model_dir / "nope.ckpt", "impactor")


class _Interrupt(L.Callback):
    """Simulate a killed job: fail at the start of epoch ``at`` (after last.ckpt of at - 1)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.at:
            raise RuntimeError("simulated interruption")


@pytest.mark.parametrize("task", ["impactor", "detector"])
def test_resume_gives_same_weights(tmp_path, dataset, config, task):
    if task == "detector":
        config["training"]["detector"].update(max_epochs=3, width=4, hidden=8)
        run, inputs = train_detector, dataset
    else:
        config["training"]["impactor"].update(max_epochs=6)
        run, inputs = train_impactor, dataset / "elements.parquet"
    straight = tmp_path / "straight"
    run(config, inputs, straight)

    resumed = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        run(config, inputs, resumed, extra_callbacks=(_Interrupt(at=2),))
    last = resumed / "work" / "checkpoints" / "last.ckpt"
    assert last.is_file() and not (resumed / "last.ckpt").exists()
    assert torch.load(last, weights_only=True)["epoch"] == 1
    run(config, inputs, resumed)

    a = torch.load(straight / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(resumed / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    m = pd.read_csv(resumed / "metrics.csv")
    assert list(m["epoch"]) == list(range(config["training"][task]["max_epochs"]))
    pd.testing.assert_frame_equal(
        m.drop(columns="step"), pd.read_csv(straight / "metrics.csv").drop(columns="step")
    )


def test_stale_work_dir_is_discarded(tmp_path, dataset, config):
    config["training"]["impactor"]["max_epochs"] = 3
    model_dir = tmp_path / "impactor_mlp"
    with pytest.raises(RuntimeError):
        train_impactor(
            config, dataset / "elements.parquet", model_dir, extra_callbacks=(_Interrupt(at=2),)
        )
    config["training"]["impactor"]["lr"] = 0.001  # a different config must not resume
    train_impactor(config, dataset / "elements.parquet", model_dir)
    assert torch.load(model_dir / "last.ckpt", weights_only=True)["hyper_parameters"]["lr"] == 0.001


def test_epoch_metrics_merges_rows(tmp_path):
    raw = tmp_path / "m.csv"
    raw.write_text(
        "epoch,step,train_loss,val_loss\n0,4,,0.9\n0,4,1.0,\n1,9,0.8,\n1,9,,0.7\n1,9,0.75,\n"
    )
    table = epoch_metrics(raw)
    assert list(table["epoch"]) == [0, 1]
    np.testing.assert_allclose(table["train_loss"], [1.0, 0.75])
    np.testing.assert_allclose(table["val_loss"], [0.9, 0.7])


def test_training_rules_declare_gpu(repo):
    """The GPU profile applies to the two Lightning rules, and only to them."""
    text = (repo / "workflow" / "rules" / "train.smk").read_text()
    rules = {block.split(":", 1)[0].strip(): block for block in text.split("\nrule ")[1:]}
    expected = {"train_detector", "train_impactor", "baseline_detector", "baseline_impactor"}
    assert expected <= set(rules)
    for name, block in rules.items():
        assert ("gpu=1" in block) == name.startswith("train_"), name
