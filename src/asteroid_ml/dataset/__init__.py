"""Dataset stage: cutout planning, injection of simulated asteroids, splits, storage.

- :func:`plan_cutout_targets` (rule ``cutout_targets``) decides which sky
  positions the HiPS stage cuts out;
- :func:`assemble_dataset` (rule ``assemble_dataset``) injects the asteroids and
  the hard negatives into those cutouts and writes the split arrays, the
  manifest, the tabular impactor dataset and the dataset card.

Submodules: :mod:`.injection` (PSF, trails, noise, artefacts), :mod:`.splits`
(hash splits), :mod:`.targets` (the plan), :mod:`.assemble` (the stage), :mod:`.cli`.
"""

from asteroid_ml.dataset.assemble import assemble_dataset, inject_sample
from asteroid_ml.dataset.cli import register_cli
from asteroid_ml.dataset.targets import plan_cutout_targets

__all__ = ["assemble_dataset", "inject_sample", "plan_cutout_targets", "register_cli"]
