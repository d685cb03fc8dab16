"""The one list of models: name, task, framework, saved file and how figures draw it.

The rules (``workflow/rules/common.smk``), the evaluation and the figures all read
this table; adding a model is one entry here plus its training rule.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("detector", "impactor")
TASK_TITLE = {"detector": "Asteroid detection", "impactor": "Impactor classification"}


@dataclass(frozen=True)
class ModelSpec:
    """A trained model of the workflow.

    ``framework`` is ``lightning`` (checkpoint ``best.ckpt``), ``sklearn``
    (``model.joblib``) or ``physics`` (a formula, nothing trained: the MOID baselines of
    :mod:`asteroid_ml.evaluation.hazard`); ``label``, ``colour`` (a name of the figures' palette) and
    ``linestyle`` are how every figure draws it.
    """

    name: str
    task: str
    framework: str
    label: str
    colour: str
    linestyle: str
    #: What the model reads: cutout ``images``, orbital ``elements`` at the epoch, the
    #: element ``series`` before it, or the ``forward`` runs (MOID baselines).
    inputs: str

    @property
    def trained(self) -> bool:
        """False for the physics baselines (no model file)."""
        return self.framework != "physics"

    @property
    def filename(self) -> str:
        """The file the trained model is saved to and loaded from, in ``models/{name}/``."""
        return "best.ckpt" if self.framework == "lightning" else "model.joblib"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("detector_cnn", "detector", "lightning", "CNN", "blue", "-", "images"),
        ModelSpec("detector_rf", "detector", "sklearn", "Random forest", "orange", "--", "images"),
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


def model_spec(name: str) -> ModelSpec:
    """The entry of ``name``; a clear error naming the known models otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]
