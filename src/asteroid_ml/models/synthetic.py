"""Small synthetic datasets in the exact ``results/dataset`` format (tests, benchmarks).

Not a simulation of anything: Gaussian sky noise with a few stars, trails
injected at a chosen signal-to-noise ratio, and the artefact kinds of the real
dataset; orbital elements where "impactors" have a node at 1 au. Useful to
exercise the training and evaluation code without running the upstream stages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asteroid_ml.io import save_npy, write_parquet
from asteroid_ml.seeds import rng_for

NEGATIVE_KINDS = ("empty", "cosmic_ray", "hot_pixel", "hot_column", "bright_star")
SKY_LEVEL, SKY_SIGMA, PSF_SIGMA_PX = 1000.0, 10.0, 1.2


def _gaussian_line(size: int, x0: float, y0: float, length: float, angle: float, sigma: float):
    """Unit-flux image of a line segment convolved with a Gaussian (sampled along the line)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    n = max(1, int(np.ceil(length * 2)) + 1)
    t = np.linspace(-0.5, 0.5, n) * length
    img = np.zeros((size, size))
    for s in t:
        cx, cy = x0 + s * np.cos(angle), y0 + s * np.sin(angle)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return img / img.sum()


def synthetic_cutout(rng: np.random.Generator, size: int, kind: str, snr: float, length: float):
    """One cutout (float32) of ``kind`` ('asteroid' or a negative kind) and its trail angle (deg)."""
    img = rng.normal(SKY_LEVEL, SKY_SIGMA, (size, size))
    for _ in range(rng.integers(0, 3)):  # field stars anywhere
        flux = 10 ** rng.uniform(2.5, 4)
        img += flux * _gaussian_line(size, *rng.uniform(0, size, 2), 0.0, 0.0, PSF_SIGMA_PX)
    angle = rng.uniform(0, 180)
    c = size / 2 - 0.5 + rng.uniform(-3, 3, 2)
    if kind == "asteroid":
        psf = _gaussian_line(size, c[0], c[1], length, np.deg2rad(angle), PSF_SIGMA_PX)
        # SNR of optimal (PSF-weighted) photometry: flux / (sigma / sqrt(sum psf^2)).
        flux = snr * SKY_SIGMA / np.sqrt((psf**2).sum())
        img += flux * psf
    elif kind == "cosmic_ray":
        r, col = rng.integers(4, size - 4, 2)
        img[r, col : col + rng.integers(1, 4)] += rng.uniform(200, 2000)
    elif kind == "hot_pixel":
        r, col = rng.integers(0, size, 2)
        img[r, col] += rng.uniform(200, 5000)
    elif kind == "hot_column":
        img[:, rng.integers(0, size)] += rng.uniform(30, 300)
    elif kind == "bright_star":
        img += 10 ** rng.uniform(4.5, 5.5) * _gaussian_line(
            size, c[0], c[1], 0, 0, 2 * PSF_SIGMA_PX
        )
    return img.astype(np.float32), angle


def make_synthetic_dataset(
    out_dir: str | Path,
    n_per_split: dict[str, int] | None = None,
    size: int = 32,
    seed: int = 0,
    positive_fraction: float = 0.5,
    snr_range: tuple[float, float] = (3.0, 40.0),
    n_objects: int = 300,
) -> Path:
    """Write ``{train,val,test}.npy``, ``manifest.parquet`` and ``elements.parquet`` to ``out_dir``."""
    out = Path(out_dir)
    n_per_split = n_per_split or {"train": 200, "val": 60, "test": 60}
    rows, sample_id = [], 0
    for split, n in n_per_split.items():
        images = np.empty((n, size, size), np.float32)
        for k in range(n):
            rng = rng_for(seed, f"synthetic-{split}", k)
            positive = rng.random() < positive_fraction
            kind = "asteroid" if positive else NEGATIVE_KINDS[rng.integers(len(NEGATIVE_KINDS))]
            snr = float(np.exp(rng.uniform(*np.log(snr_range)))) if positive else np.nan
            length = float(rng.uniform(0, 8)) if positive else np.nan
            images[k], angle = synthetic_cutout(
                rng, size, kind, snr if positive else 0, length or 0
            )
            rows.append(
                {
                    "sample_id": sample_id,
                    "split": split,
                    "index_in_split": k,
                    "label": int(positive),
                    "kind": kind,
                    "object_id": f"obj{k:05d}" if positive else "",
                    "population": "background" if positive else "",
                    "ra_deg": 10.0,
                    "dec_deg": 20.0,
                    "mag": 21.0 - 2.5 * np.log10(snr / 10.0) if positive else np.nan,
                    "snr": snr,
                    "rate_arcsec_min": length if positive else np.nan,
                    "pa_deg": angle if positive else np.nan,
                    "trail_length_px": length,
                    "trail_angle_deg": angle if positive else np.nan,
                    "cutout_shard": 0,
                    "cutout_index": sample_id,
                }
            )
            sample_id += 1
        save_npy(images, out / f"{split}.npy")
    write_parquet(pd.DataFrame(rows), out / "manifest.parquet")
    write_parquet(synthetic_elements(n_objects, seed), out / "elements.parquet")
    return out


def synthetic_elements(n: int, seed: int = 0, impactor_fraction: float = 0.3) -> pd.DataFrame:
    """Orbital elements: 'impactors' have a node within 0.01 au of 1 au, others are random NEOs."""
    rng = rng_for(seed, "synthetic-elements")
    label = (rng.random(n) < impactor_fraction).astype(int)
    e = rng.uniform(0.05, 0.7, n)
    w = rng.uniform(0, 360, n)
    cw = np.cos(np.deg2rad(w))
    node_r = np.where(label == 1, 1 + rng.uniform(-0.01, 0.01, n), rng.uniform(0.6, 2.5, n))
    ascending = rng.random(n) < 0.5
    a = node_r * np.where(ascending, 1 + e * cw, 1 - e * cw) / (1 - e**2)
    split = rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.2, 0.2])
    return pd.DataFrame(
        {
            "object_id": [f"sim{k:05d}" for k in range(n)],
            "split": split,
            "label": label,
            "population": np.where(label == 1, "impactor", "background"),
            "a_au": a,
            "e": e,
            "i_deg": np.abs(rng.normal(0, 15, n)),
            "om_deg": rng.uniform(0, 360, n),
            "w_deg": w,
            "ma_deg": rng.uniform(0, 360, n),
            "q_au": a * (1 - e),
            "H_mag": rng.uniform(17, 25, n),
        }
    )
