"""The schema is the only home of a default: every model, survey model and campaign is built
from a config holding only the schema's required keys, and their classes have no defaults."""

from __future__ import annotations

import inspect

import pytest
import yaml

from asteroid_ml.config import validate_config
from asteroid_ml.paths import SCHEMA_PATH

#: The keys the schema requires (no default); everything else comes from the schema.
REQUIRED_ONLY = {
    "seed": 7,
    "epoch_jd_tdb": 2459000.5,
    "simulation": {"impactor": {"n": 10, "shards": 1}, "background": {"n": 10, "shards": 1}},
    "observations": {},
    "survey": {"location": "resources/hips/DSS2Red"},
    "dataset": {},
    "training": {},
    "evaluation": {},
    "figures": {},
}


@pytest.fixture(scope="module")
def config() -> dict:
    return validate_config(REQUIRED_ONLY)


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())["properties"]


def _default(schema: dict, *keys: str):
    node = schema
    for key in keys[:-1]:
        node = node[key]["properties"]
    return node[keys[-1]]["default"]


def test_lightning_models_take_the_schemas_values(config, schema):
    from asteroid_ml.models.detector import DetectorCNN
    from asteroid_ml.models.impactor import ImpactorMLP
    from asteroid_ml.models.series import ImpactorSeriesNet

    training = config["training"]
    cnn = DetectorCNN.from_config(training["detector"], 2.0, 32, channels=1)
    for key in ("depth", "width", "hidden", "dropout", "lr", "weight_decay", "max_epochs"):
        assert cnn.hparams[key] == _default(schema, "training", "detector", key), key
    mlp = ImpactorMLP.from_config(training["impactor"], 3.0)
    assert list(mlp.hparams["hidden"]) == _default(schema, "training", "impactor", "hidden")
    assert mlp.hparams["lr"] == _default(schema, "training", "impactor", "lr")
    series = ImpactorSeriesNet.from_config(training["series"], 9, 1.5)
    assert series.hparams["channels"] == _default(schema, "training", "series", "channels")
    assert series.hparams["max_epochs"] == _default(schema, "training", "series", "max_epochs")


def test_detection_classifiers_take_the_schemas_values(config, schema):
    from asteroid_ml.detection.models import feature_forest, triplet_cnn

    cnn = triplet_cnn(config["detection"], 4.0, 32)
    assert cnn.hparams["channels"] == 3
    for key in ("depth", "width", "hidden", "dropout", "lr", "weight_decay", "max_epochs"):
        assert cnn.hparams[key] == _default(schema, "detection", f"cnn_{key}"), key
    forest = feature_forest(config["detection"], 7, 1)
    assert forest.n_estimators == _default(schema, "detection", "forest_trees")
    assert forest.min_samples_leaf == _default(schema, "detection", "forest_min_samples_leaf")


def test_survey_model_campaign_and_artefacts_take_the_schemas_values(config, schema):
    from asteroid_ml.detection.campaign import CampaignSettings
    from asteroid_ml.detection.epochs import ArtefactRates
    from asteroid_ml.detection.workflow import survey_model
    from asteroid_ml.frames.movers import FindSettings

    model = survey_model(config, 0.805)
    assert model.seeing_ratio == tuple(_default(schema, "detection", "seeing_ratio"))
    assert model.elongation_max == _default(schema, "detection", "elongation_max")
    assert model.solution_astrometric_sigma_px == pytest.approx(
        _default(schema, "detection", "solution_astrometry_arcsec") / 0.805
    )
    settings = CampaignSettings.from_config(config["detection"])
    assert settings.edge_margin_px == _default(schema, "detection", "edge_margin_px")
    assert settings.split_fractions == tuple(
        _default(schema, "detection", "split_fractions")[s] for s in ("train", "val", "test")
    )
    assert settings.binnings == tuple(_default(schema, "detection", "binnings"))
    rates = ArtefactRates.from_config(config["detection"]["artefacts"])
    assert rates.cosmic_rays_per_epoch == _default(
        schema, "detection", "artefacts", "cosmic_rays_per_epoch"
    )
    FindSettings.from_config(config["frames"])


def test_classes_built_from_the_config_have_no_defaults_of_their_own():
    from asteroid_ml.detection.campaign import CampaignSettings
    from asteroid_ml.detection.epochs import ArtefactRates
    from asteroid_ml.detection.survey_model import SurveyModel
    from asteroid_ml.models.datamodules import CutoutDataModule, ElementsDataModule
    from asteroid_ml.models.detector import DetectorCNN
    from asteroid_ml.models.impactor import ImpactorMLP
    from asteroid_ml.models.series import ImpactorSeriesNet

    # softening: the robust normalisation's fixed scale, the same at training and inference
    not_config = {"softening"}
    with_defaults = {
        f"{cls.__name__}.{name}"
        for cls in (
            DetectorCNN,
            ImpactorMLP,
            ImpactorSeriesNet,
            SurveyModel,
            CampaignSettings,
            ArtefactRates,
            CutoutDataModule,
            ElementsDataModule,
        )  # fmt: skip
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in not_config
    }
    assert with_defaults == set()
