"""Workflow configuration: loading, JSON-schema validation with defaults, hashing.

The schema lives in ``workflow/schemas/config.schema.yaml`` (the one place that
defines every key, its type, range and default). The Snakefile and the CLI both
call :func:`validate_config`, so a bad config stops before any job runs, with a
message that names the file and the dotted key.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _dotted(path: Iterable[Any]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line per error: the dotted key first, then what is wrong with it."""
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        keys = ", ".join(_dotted([*where, k]) for k in extra)
        return f"{keys}: unknown key (allowed: {', '.join(sorted(error.schema.get('properties', {})))})"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return ", ".join(f"{_dotted([*where, k])}: missing required key" for k in missing)
    return f"{_dotted(where)}: {error.message}"


def _fill_defaults(instance: Any, schema: Mapping[str, Any]) -> None:
    """Insert schema defaults for absent keys, recursively (objects only)."""
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)


def section_with_defaults(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One config section with the schema's defaults filled in (not validated).

    For callers that build a section by hand (tests, notebooks) and call a stage
    function that reads only that section.
    """
    section = copy.deepcopy(dict(values))
    _fill_defaults(section, load_schema()["properties"][name])
    return section


def validate_config(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate ``config`` against the schema and return a copy with defaults filled in.

    Raises :class:`ConfigError` listing every problem as ``source: dotted.key: reason``.
    """
    schema = load_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  {source}: {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n{lines}")
    filled = copy.deepcopy(dict(config))
    _fill_defaults(filled, schema)
    _check_semantics(filled, source)
    return filled


def _check_semantics(config: Mapping[str, Any], source: str) -> None:
    """Cross-key rules that JSON schema cannot express, one module per config section."""
    from asteroid_ml.dataset.checks import dataset_problems
    from asteroid_ml.evaluation.checks import evaluation_problems
    from asteroid_ml.hips.checks import survey_problems
    from asteroid_ml.simulation.checks import observation_problems, simulation_problems

    checks = (
        ("simulation", simulation_problems),
        ("observations", observation_problems),
        ("survey", lambda c: survey_problems(c, REPO_ROOT)),
        ("dataset", dataset_problems),
        ("evaluation", evaluation_problems),
    )
    problems = []
    for section, check in checks:
        if section in config:
            problems += check(config)
    if problems:
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """Read a YAML config file, validate it and fill defaults."""
    path = Path(path)
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return validate_config(raw, source=str(path))


def config_hash(config: Mapping[str, Any], sections: Iterable[str] | None = None) -> str:
    """SHA-256 of the canonical JSON of ``config`` (or only of ``sections``).

    Used in dataset cards and Parquet metadata to tie an output to the exact
    configuration that produced it.
    """
    chosen = config if sections is None else {k: config.get(k) for k in sections}
    blob = json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
