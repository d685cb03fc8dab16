"""Workflow configuration: loading, JSON-schema validation with defaults, hashing.

The schema lives in ``workflow/schemas/config.schema.yaml`` (the one place that
defines every key, its type, range and default). The Snakefile and the CLI both
call :func:`validate_config`, so a bad config stops before any job runs, with a
message that names the file and the dotted key.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from asteroid_ml.paths import DEFAULT_CONFIG_PATH, REPO_ROOT, SCHEMA_PATH


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
        # jsonschema reports each missing key as its own error: name that one key
        named = re.fullmatch(r"'(.+)' is a required property", error.message)
        missing = [named.group(1)] if named else error.validator_value
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


def validate_config(
    config: Mapping[str, Any], source: str = "config", base: str | Path = REPO_ROOT
) -> dict[str, Any]:
    """Validate ``config`` against the schema and return a copy with defaults filled in.

    Relative paths in the config (``survey.location``, ``detection.survey``, the frame
    globs) are checked against ``base``: the workflow passes the checkout that holds its
    Snakefile, the place its rules read them from; the ``asteroid-ml`` commands use the
    checkout of the package (the same folder unless the package is installed from
    another clone). Raises :class:`ConfigError` listing every problem as
    ``source: dotted.key: reason``.
    """
    non_finite = list(_non_finite(config))
    if non_finite:
        lines = "\n".join(
            f"  {source}: {key}: {value} is not a finite number" for key, value in non_finite
        )
        raise ConfigError(f"invalid configuration ({len(non_finite)} problem(s)):\n{lines}")
    schema = load_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  {source}: {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n{lines}")
    filled = copy.deepcopy(dict(config))
    _fill_defaults(filled, schema)
    _check_semantics(filled, source, Path(base))
    return filled


def _non_finite(value: Any, path: tuple = ()) -> Iterator[tuple[str, float]]:
    """(dotted key, value) of every NaN or infinite number: YAML's ``.nan`` and ``.inf`` are
    numbers to JSON schema, and pass every range check."""
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _non_finite(sub, (*path, key))
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            yield from _non_finite(sub, (*path, i))
    elif isinstance(value, float) and not math.isfinite(value):
        yield _dotted(path), value


def _check_semantics(config: Mapping[str, Any], source: str, base: Path) -> None:
    """Cross-key rules that JSON schema cannot express, one module per config section."""
    from asteroid_ml.dataset.checks import dataset_problems
    from asteroid_ml.detection.checks import detection_problems
    from asteroid_ml.evaluation.checks import evaluation_problems, hazard_problems
    from asteroid_ml.frames.checks import frames_problems
    from asteroid_ml.hips.checks import survey_problems
    from asteroid_ml.simulation.checks import observation_problems, simulation_problems

    checks = (
        ("simulation", simulation_problems),
        ("observations", observation_problems),
        ("survey", lambda c: survey_problems(c, base)),
        ("dataset", dataset_problems),
        ("evaluation", evaluation_problems),
        ("hazard", hazard_problems),
        ("detection", lambda c: detection_problems(c, base)),
        ("frames", lambda c: frames_problems(c, base)),
    )
    problems = []
    for section, check in checks:
        if section in config:
            problems += check(config)
    if problems:
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the
    last one silently: a second ``seed:`` or ``survey:`` section would win unseen)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"line {line}: key {key!r} given twice in one mapping (first on line "
                    f"{seen[key]}); YAML would keep the last silently"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """One YAML config file as a mapping (not validated); errors name the file (and the
    line of a key given twice)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=_UniqueKeyLoader)  # a SafeLoader
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a folder, not a YAML config file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}): not a YAML config file"
        ) from exc
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return raw


def typed_overrides(value: Any) -> Any:
    """``snakemake --config`` values with their YAML types: Snakemake types a top-level
    ``key=value`` but hands the leaves of a nested one (``figures={"dpi": 150}``) over as
    strings; each string leaf that YAML reads as a number, boolean or null becomes one."""
    if isinstance(value, Mapping):
        return {k: typed_overrides(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed_overrides(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, (bool, int, float)) or parsed is None:
            return parsed
    return value


def overlay(layers: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge config layers, later over earlier, key by key (nested sections included).

    The same rule as Snakemake's ``--configfile`` over the Snakefile's ``configfile:``
    (snakemake.utils.update_config): a mapping is merged, any other value replaces.
    """
    merged: dict[str, Any] = {}

    def merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    for _, layer in layers:
        merge(merged, layer)
    return merged


def _leaves(mapping: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key))


SCHEMA_DEFAULT = "schema default"


def key_sources(
    layers: Sequence[tuple[str, Mapping[str, Any]]], filled: Mapping[str, Any]
) -> dict[str, str]:
    """For every leaf key of the validated config, the layer that set it.

    ``layers`` are ``(name, mapping)`` pairs in merge order; a key no layer sets
    came from the schema's defaults. Returns ``{"dotted.key": source}``.
    """
    sources = {".".join(leaf): SCHEMA_DEFAULT for leaf in _leaves(filled)}
    for name, layer in layers:
        for leaf in _leaves(layer):
            sources[".".join(leaf)] = name
    return sources


def sources_summary(sources: Mapping[str, str]) -> str:
    """One line: how many keys each layer set, e.g. for the start of a workflow run."""
    counts: dict[str, int] = {}
    for source in sources.values():
        counts[source] = counts.get(source, 0) + 1
    parts = [f"{n} from {name}" for name, n in counts.items() if name != SCHEMA_DEFAULT]
    if SCHEMA_DEFAULT in counts:
        parts.append(f"{counts[SCHEMA_DEFAULT]} schema defaults")
    return f"{len(sources)} config keys: " + ", ".join(parts)


def config_layers(
    paths: Sequence[str | Path], replace_default: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """The layers a run reads: ``config/config.yaml`` (unless ``replace_default``), then ``paths``.

    This is what ``snakemake --configfile a.yaml --configfile b.yaml`` does, and
    ``--replace-workflow-config`` is ``replace_default=True``.
    """
    layers = (
        []
        if replace_default
        else [(_display(DEFAULT_CONFIG_PATH), read_config_file(DEFAULT_CONFIG_PATH))]
    )
    for path in paths:
        if not replace_default and Path(path).resolve() == DEFAULT_CONFIG_PATH:
            continue
        layers.append((_display(path), read_config_file(path)))
    return layers


def _display(path: str | Path) -> str:
    """A path as the user reads it: relative to the repository when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_config(
    path: str | Path = DEFAULT_CONFIG_PATH, replace_default: bool = False
) -> dict[str, Any]:
    """Validate ``path`` laid over ``config/config.yaml``, as the workflow reads it; fill defaults.

    With ``replace_default`` the file is read alone (it must then be complete), as
    with ``snakemake --replace-workflow-config``.
    """
    layers = config_layers([path], replace_default)
    return validate_config(overlay(layers), source=layers[-1][0])
