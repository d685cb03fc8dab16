"""The detection stage's trained candidate classifiers as files a user can load.

``detector_cnn`` is a Lightning checkpoint (``best.ckpt``, weights and hyperparameters),
``detector_rf`` a joblib file (``model.joblib``); each has a ``card.json`` beside it: the
config hash, the training data, the survey model, the val-chosen operating point, the
test metrics and the input each expects (:data:`CNN_INPUT`, :data:`FOREST_INPUT`).
:func:`load_detector` reads either back; ``asteroid-ml find-movers`` uses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asteroid_ml.detection.candidates import FEATURES, STAMP, STAMP_CLIP_SIGMA
from asteroid_ml.io import config_hash

CARD_NAME = "card.json"

#: What the triplet CNN reads (written into its card).
CNN_INPUT = {
    "stamp_px": STAMP,
    "channels": ["science (sky-subtracted)", "PSF-matched reference", "difference"],
    "units": "the difference image's robust noise (MAD sigma) per pixel",
    "centre": "the candidate's sep position rounded to the nearest pixel",
    "clip_sigma": STAMP_CLIP_SIGMA,
    "off_image": "zeros",
    "test_time_augmentation": "mean probability over the 8 dihedral transforms",
}
#: What the feature forest reads.
FOREST_INPUT = {
    "features": list(FEATURES),
    "mag": "zero_point_mag - 2.5 log10(aperture flux): the survey model's magnitudes, so "
    "on other data put the zero point where that data's 5-sigma limit is the card's limit_mag",
}


@dataclass
class SavedDetector:
    """A loaded classifier: ``kind`` ``cnn`` or ``forest``, the model, its card."""

    kind: str
    model: Any
    card: dict

    @property
    def threshold(self) -> float:
        """The operating point chosen on the val fields (target recall of real candidates)."""
        return float(self.card["operating_point"]["threshold"])

    def score(self, stamps: np.ndarray | None = None, features=None) -> np.ndarray:
        """Real probability of each candidate: stamp triplets for the CNN, a feature table
        (:data:`~asteroid_ml.detection.candidates.FEATURES`) for the forest."""
        from asteroid_ml.detection.models import score_features, score_triplets

        if self.kind == "cnn":
            return score_triplets(self.model, np.asarray(stamps, np.float32))
        return score_features(self.model, features)


def model_card(
    name: str, config: Mapping[str, Any], metrics: Mapping[str, Any], survey: Mapping[str, Any],
    training: Mapping[str, Any], model_input: Mapping[str, Any],
) -> dict:  # fmt: skip
    """The card of one saved classifier."""
    keys = ("roc_auc", "pr_auc", "recall_at_threshold", "fdr_at_target_recall",
            "candidate_reduction_at_target_recall")  # fmt: skip
    return {
        "model": name,
        "config_hash": config_hash(config, ["seed", "detection"]),
        "training_data": dict(training),
        "survey_model": dict(survey),
        "operating_point": {
            "threshold": metrics["threshold_at_target_recall"],
            "target_recall": config["detection"]["target_recall"],
            "chosen_on": metrics["threshold_from"],
        },
        "test_metrics": {k: metrics[k] for k in keys if k in metrics},
        "input": dict(model_input),
        "note": "trained on simulated epochs of real survey fields (docs/detection.md); "
        "on real frames see results/eval/real_frames_summary.csv",
    }


def save_card(card: Mapping[str, Any], directory: Path) -> None:
    from asteroid_ml.evaluation.metrics import strict_json
    from asteroid_ml.io import atomic_output

    with atomic_output(directory / CARD_NAME) as tmp:
        tmp.write_text(json.dumps(strict_json(card), indent=1))


def save_forest(forest, path: Path) -> None:
    import joblib

    from asteroid_ml.io import atomic_output

    with atomic_output(path) as tmp:
        joblib.dump(forest, tmp, compress=3)


def load_detector(path: str | Path) -> SavedDetector:
    """A saved ``detector_cnn`` (``.ckpt``) or ``detector_rf`` (``.joblib``), or the folder
    holding one, with its card. joblib unpickles: load only files this workflow wrote."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.ckpt")) + sorted(path.glob("*.joblib"))
        if not found:
            raise FileNotFoundError(f"{path}: no .ckpt or .joblib model in this folder")
        path = found[0]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    card_path = path.parent / CARD_NAME
    if not card_path.exists():
        raise FileNotFoundError(f"{card_path}: the model's card is missing")
    card = json.loads(card_path.read_text())
    if path.suffix == ".ckpt":
        from asteroid_ml.models.detector import DetectorCNN

        model = DetectorCNN.load_from_checkpoint(path, map_location="cpu", weights_only=False)
        return SavedDetector("cnn", model.eval(), card)
    import joblib

    return SavedDetector("forest", joblib.load(path), card)
