"""Data access for training: memory-mapped cutouts and tabular orbital elements.

The image splits ``results/dataset/{split}.npy`` are opened once with
``np.load(mmap_mode="r")``; a batch is read with one fancy-indexing call on the
memory map (no per-sample file opens, no per-sample Python work), normalised
and augmented as a whole array. Every random choice (shuffling, the dihedral
transform of each sample) is a pure function of ``(seed, epoch, batch index)``,
so an interrupted run resumed from its last checkpoint sees exactly the same
batches as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from asteroid_ml.dataset.splits import SPLITS
from asteroid_ml.models.features import element_features, robust_normalise
from asteroid_ml.seeds import rng_for

log = logging.getLogger(__name__)

#: The 8 symmetries of the square (rotations by k * 90 deg, then optionally a flip).
N_DIHEDRAL = 8


def dihedral(images: np.ndarray | torch.Tensor, k: int) -> np.ndarray | torch.Tensor:
    """Apply dihedral transform ``k`` (0..7) to the last two axes.

    ``k % 4`` counter-clockwise quarter turns (``rot90`` convention), followed by
    a left-right flip when ``k >= 4``. ``k = 0`` is the identity.
    """
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"dihedral transform index must be in 0..7, got {k}")
    if isinstance(images, torch.Tensor):
        out = torch.rot90(images, k % 4, dims=(-2, -1))
        return torch.flip(out, dims=(-1,)) if k >= 4 else out
    out = np.rot90(images, k % 4, axes=(-2, -1))
    return np.flip(out, axis=-1) if k >= 4 else out


def load_split_images(dataset_dir: str | Path, split: str) -> np.ndarray:
    """Memory-map ``{dataset_dir}/{split}.npy`` (float32, (N, S, S)), checking its shape."""
    path = Path(dataset_dir) / f"{split}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"dataset split not found: {path}")
    images = np.load(path, mmap_mode="r")
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"{path}: expected float32 images (N, S, S), got shape {images.shape}")
    return images


def load_manifest(dataset_dir: str | Path, split: str | None = None) -> pd.DataFrame:
    """Read ``manifest.parquet`` (optionally one split), sorted by ``index_in_split``."""
    path = Path(dataset_dir) / "manifest.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"dataset manifest not found: {path}")
    manifest = pd.read_parquet(path)
    for column in ("sample_id", "split", "index_in_split", "label"):
        if column not in manifest.columns:
            raise ValueError(f"{path}: missing column {column!r}")
    if split is not None:
        manifest = manifest[manifest["split"] == split]
    return manifest.sort_values(["split", "index_in_split"]).reset_index(drop=True)


def split_labels(dataset_dir: str | Path, split: str, n_images: int) -> np.ndarray:
    """Labels (int64) of ``split`` in array order; checks rows <-> array length."""
    rows = load_manifest(dataset_dir, split)
    if len(rows) != n_images or not np.array_equal(rows["index_in_split"], np.arange(n_images)):
        raise ValueError(
            f"{Path(dataset_dir) / 'manifest.parquet'}: split {split!r} has {len(rows)} rows with "
            f"index_in_split not equal to 0..{n_images - 1} (the {split}.npy length)"
        )
    return rows["label"].to_numpy(dtype=np.int64)


class CutoutBatches(Dataset):
    """A split of cutouts indexed by *batches*: ``ds[list_of_indices]`` returns a whole batch.

    Used with :class:`EpochBatchSampler` and ``DataLoader(batch_size=None)`` so
    that reading, normalisation and augmentation are vectorised over the batch.
    ``augment`` draws one of the 8 dihedral transforms per sample from
    ``rng_for(seed, "augment", epoch, batch_number)``.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int,
        augment: bool = False,
        cache: bool = True,
        softening: float = 1.0,
    ) -> None:
        self.images = images
        self.labels = torch.tensor(np.asarray(labels), dtype=torch.float32)
        self.seed = int(seed)
        self.augment = augment
        self.softening = softening
        self._cache: torch.Tensor | None = None
        if cache:
            # Normalise once, chunk by chunk, straight from the memory map.
            chunks = [
                robust_normalise(images[i : i + 4096], softening)
                for i in range(0, len(images), 4096)
            ]
            size = images.shape[-1]
            joined = np.concatenate(chunks) if chunks else np.zeros((0, size, size), np.float32)
            self._cache = torch.from_numpy(joined)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int, Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, batch_number, indices = key
        idx = np.asarray(indices, dtype=np.int64)
        if self._cache is not None:
            x = self._cache[torch.from_numpy(idx)]
        else:
            order = np.argsort(idx)  # sorted reads from the memory map, then restore order
            block = np.empty((len(idx), *self.images.shape[1:]), np.float32)
            block[order] = robust_normalise(self.images[idx[order]], self.softening)
            x = torch.from_numpy(block)
        if self.augment:
            x = augment_batch(x, rng_for(self.seed, "augment", epoch, batch_number))
        return x.unsqueeze(1).contiguous(), self.labels[torch.from_numpy(idx)]


def augment_batch(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Apply an independent random dihedral transform to every image of ``x`` (N, S, S)."""
    choice = rng.integers(0, N_DIHEDRAL, size=len(x))
    out = x.clone()
    for k in range(1, N_DIHEDRAL):
        sel = np.flatnonzero(choice == k)
        if len(sel):
            t = torch.from_numpy(sel)
            out[t] = dihedral(x[t], k)
    return out


class EpochBatchSampler(Sampler):
    """Yields ``(epoch, batch_number, indices)``; the permutation depends only on (seed, epoch).

    Lightning calls :meth:`set_epoch` at the start of every training epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool, drop_last: bool = False):
        self.n, self.batch_size, self.seed = n, batch_size, int(seed)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last and self.n >= self.batch_size:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        if self.shuffle:
            order = rng_for(self.seed, "shuffle", self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        for b in range(len(self)):
            yield self.epoch, b, order[b * self.batch_size : (b + 1) * self.batch_size]


def _loader(dataset: Dataset, sampler: EpochBatchSampler, workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,  # the sampler yields whole batches
        num_workers=workers,
        persistent_workers=workers > 0,
    )


class _SplitDataModule(L.LightningDataModule):
    """The three loaders of a split dataset; subclasses define ``_dataloader(split, shuffle)``."""

    def _dataloader(self, split: str, shuffle: bool) -> DataLoader:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._dataloader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._dataloader("test", shuffle=False)


class CutoutDataModule(_SplitDataModule):
    """Train/val/test cutouts of ``results/dataset`` for the detector."""

    def __init__(
        self,
        dataset_dir: str | Path,
        batch_size: int,
        seed: int,
        augment: bool,
        cache: bool,
        num_workers: int,
        softening: float = 1.0,
    ) -> None:
        super().__init__()
        self.dataset_dir = Path(dataset_dir)
        self.batch_size, self.seed = batch_size, int(seed)
        self.augment, self.cache, self.num_workers = augment, cache, num_workers
        self.softening = softening
        self.datasets: dict[str, CutoutBatches] = {}

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
        for split in wanted.get(stage or "", SPLITS):
            if split in self.datasets:
                continue
            images = load_split_images(self.dataset_dir, split)
            labels = split_labels(self.dataset_dir, split, len(images))
            self.datasets[split] = CutoutBatches(
                images,
                labels,
                self.seed,
                augment=self.augment and split == "train",
                cache=self.cache,
                softening=self.softening,
            )
            log.info(
                "%s: %d cutouts of %d px, %d positive",
                split,
                len(images),
                images.shape[-1],
                labels.sum(),
            )

    def _dataloader(self, split: str, shuffle: bool) -> DataLoader:
        ds = self.datasets[split]
        sampler = EpochBatchSampler(len(ds), self.batch_size, self.seed, shuffle=shuffle)
        return _loader(ds, sampler, self.num_workers)


# --- orbital elements ----------------------------------------------------------


def load_elements(path: str | Path) -> pd.DataFrame:
    """Read ``elements.parquet`` and check the columns of the dataset contract."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"elements table not found: {path}")
    table = pd.read_parquet(path)
    for column in ("object_id", "split", "label", "a_au", "e", "i_deg", "om_deg", "w_deg"):
        if column not in table.columns:
            raise ValueError(f"{path}: missing column {column!r}")
    return table


class ElementsDataModule(_SplitDataModule):
    """Standardised orbital-element features of ``elements.parquet`` for the impactor MLP.

    The whole table is a few thousand rows: each split is held as two tensors and
    batches are index slices (same (seed, epoch)-keyed sampler as the images).
    """

    def __init__(
        self,
        elements_path: str | Path,
        features: Sequence[str],
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.elements_path = Path(elements_path)
        self.features = list(features)
        self.batch_size, self.seed = batch_size, int(seed)
        self.tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    #: Axes of a feature batch over which the standardisation is computed.
    stat_axes: tuple[int, ...] = (0,)

    def features_of(self, rows: pd.DataFrame) -> np.ndarray:
        """The network input of some rows of the elements table."""
        return element_features(rows, self.features)

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        table = load_elements(self.elements_path)
        for split in SPLITS:
            rows = table[table["split"] == split]
            x = self.features_of(rows)
            y = rows["label"].to_numpy(np.float32)
            self.tensors[split] = (torch.from_numpy(x), torch.from_numpy(y))
        x_train = self.tensors["train"][0].numpy()
        if len(x_train) == 0:
            raise ValueError(f"{self.elements_path}: no rows with split == 'train'")
        self.mean = x_train.mean(axis=self.stat_axes)
        self.std = x_train.std(axis=self.stat_axes)
        self.std[self.std == 0] = 1.0

    def _dataloader(self, split: str, shuffle: bool) -> DataLoader:
        x, y = self.tensors[split]
        sampler = EpochBatchSampler(len(x), self.batch_size, self.seed, shuffle=shuffle)
        return _loader(_TensorBatches(x, y), sampler, 0)


class _TensorBatches(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, key: tuple[int, int, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(np.asarray(key[2], dtype=np.int64))
        return self.x[idx], self.y[idx]


class SeriesDataModule(ElementsDataModule):
    """Element series (:mod:`asteroid_ml.models.series`) of the objects of ``elements.parquet``,
    split as that table says; standardised per channel over objects and epochs."""

    stat_axes = (0, 2)

    def __init__(
        self,
        elements_path: str | Path,
        ids: Sequence[str],
        raw_series: np.ndarray,
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__(elements_path, (), batch_size=batch_size, seed=seed)
        self.ids, self.raw_series = list(ids), raw_series

    def features_of(self, rows: pd.DataFrame) -> np.ndarray:
        from asteroid_ml.models.series import series_features, series_for

        return series_features(
            series_for(rows["object_id"].astype(str).tolist(), self.ids, self.raw_series)
        )
