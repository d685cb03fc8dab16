"""The one list of models: name, task, framework, saved file and how figures draw it.

The rules (``workflow/rules/common.smk``), the evaluation and the figures all read
this table. Adding a model is the model itself, one entry here, its training rule and script,
and its settings in the schema (docs/code-map.md, "Where to add things").
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("detector", "impactor")
TASK_TITLE = {
    "detector": "Asteroid detection (single-epoch stamps)",
    "impactor": "Impactor classification",
    "detection": "Asteroid detection (difference-image candidates)",
}


@dataclass(frozen=True)
class ModelSpec:
    """A trained model of the workflow.

    ``framework`` is ``lightning`` (checkpoint ``best.ckpt``), ``sklearn``
    (``model.joblib``), ``physics`` (a formula, nothing trained: the MOID baselines of
    :mod:`asteroid_ml.evaluation.hazard`) or ``detection`` (trained and scored inside the
    detection stage, :mod:`asteroid_ml.detection`, on its own candidates); ``label``, ``colour`` (a name of the figures' palette) and
    ``linestyle`` are how every figure draws it.
    """

    name: str
    task: str
    framework: str
    label: str
    colour: str
    linestyle: str
    #: What the model reads: cutout ``images``, orbital ``elements`` at the epoch, the
    #: element ``series`` before it, the ``forward`` runs (MOID baselines), or the detection
    #: stage's ``candidates`` (stamp triplets, features, sequences).
    inputs: str

    @property
    def trained(self) -> bool:
        """False for the physics baselines (no model file)."""
        return self.framework != "physics"

    #: The detection stage's saved classifiers: ``cnn`` (a Lightning checkpoint) or
    #: ``forest`` (joblib); empty for a model with no file of its own (the sequence stage).
    saved_as: str = ""

    @property
    def filename(self) -> str:
        """The file the trained model is saved to and loaded from, in ``models/{name}/``."""
        lightning = self.framework == "lightning" or self.saved_as == "cnn"
        return "best.ckpt" if lightning else "model.joblib"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("stamp_cnn", "detector", "lightning", "Stamp CNN", "blue", "-", "images"),
        ModelSpec(
            "stamp_rf", "detector", "sklearn", "Stamp random forest", "orange", "--", "images"
        ),
        ModelSpec(
            "detector_cnn",
            "detection",
            "detection",
            "Triplet CNN",
            "blue",
            "-",
            "candidates",
            saved_as="cnn",
        ),
        ModelSpec(
            "detector_rf",
            "detection",
            "detection",
            "Feature forest",
            "orange",
            "--",
            "candidates",
            saved_as="forest",
        ),
        ModelSpec(
            "detector_sequence", "detection", "detection", "Sequences", "black", "-.", "candidates"
        ),
        ModelSpec("impactor_mlp", "impactor", "lightning", "MLP", "green", "-", "elements"),
        ModelSpec(
            "impactor_rf", "impactor", "sklearn", "Random forest", "vermillion", "--", "elements"
        ),
        ModelSpec("impactor_series", "impactor", "lightning", "Series CNN", "sky", "-", "series"),
        ModelSpec("impactor_moid_now", "impactor", "physics", "MOID now", "purple", ":", "forward"),
        ModelSpec(
            "impactor_moid_future",
            "impactor",
            "physics",
            "Min. future MOID",
            "black",
            "-.",
            "forward",
        ),
    )
}


def model_names(task: str | None = None, framework: str | None = None) -> list[str]:
    """Names of the models of ``task`` and ``framework`` (all when None), in registry order."""
    return [
        s.name
        for s in MODELS.values()
        if (task is None or s.task == task) and (framework is None or s.framework == framework)
    ]


def saved_detection_models() -> list[str]:
    """The detection stage's classifiers that it saves as files (``saved_as``)."""
    return [s.name for s in MODELS.values() if s.saved_as]


def evaluated_models() -> list[str]:
    """The models that the evaluation stage scores on the test split (every model but the
    detection stage's, which that stage scores itself)."""
    return [s.name for s in MODELS.values() if s.framework != "detection"]


def model_spec(name: str) -> ModelSpec:
    """The entry of ``name``; a clear error naming the known models otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]
