# Included first by the Snakefile and shared by every stage file: config validation, the
# model registry, shard lists, every input function and the list of final outputs. Stage
# files (one per stage) hold rules only.
import glob
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
# The package is importable even when snakemake runs outside the project's .venv.
sys.path.insert(0, str(REPO / "src"))

from asteroid_ml.config import (
    config_layers,
    key_sources,
    overlay,
    sources_summary,
    typed_overrides,
    validate_config,
)
from asteroid_ml.evaluation.summary import SOURCES as SUMMARY_SOURCES
from asteroid_ml.frames.checks import GLOB_KEYS as FRAME_GLOB_KEYS
from asteroid_ml.frames.checks import resolve as resolve_frames_glob
from asteroid_ml.hips.checks import listed_files
from asteroid_ml.registry import (
    MODELS,
    evaluated_models,
    model_names,
    saved_detection_models,
)
from asteroid_ml.simulation.forward import catalog_move_warning, forward_settings
from asteroid_ml.simulation.populations import POPULATIONS
from asteroid_ml.workflow_support import export_source_path

# Validate against workflow/schemas/config.schema.yaml before any job is planned.
# (Our validate() reports every problem at once as `dotted.key: reason` and fills
# the schema's defaults, like snakemake.utils.validate(set_default=True).)
# A --configfile is an overlay on config/config.yaml (Snakemake merges them key by key);
# say how many keys each file set, so that a forgotten key is visible (docs: config/README.md).
CONFIG_LAYERS = config_layers(
    workflow.overwrite_configfiles,
    replace_default=workflow.config_settings.replace_workflow_config,
)
if workflow.config_settings.config:
    # nested --config values arrive as strings: give them their YAML types
    OVERRIDES = typed_overrides(dict(workflow.config_settings.config))
    CONFIG_LAYERS.append(("--config", OVERRIDES))
    config.update(overlay([("", config), ("--config", OVERRIDES)]))
# relative paths in the config are read from this checkout (the one holding the Snakefile)
config.update(validate_config(config, source=CONFIG_LAYERS[-1][0], base=REPO))
if workflow.is_main_process:
    print(
        f"{sources_summary(key_sources(CONFIG_LAYERS, config))} "
        "(per key: .venv/bin/asteroid-ml validate-config <files> --sources)",
        file=sys.stderr,
    )
    # an epoch far from the catalog's element epochs makes every forward_catalog job
    # propagate its objects for a long time first: say so, with the expected cost
    _MOVE_WARNING = catalog_move_warning(config, REPO / "resources/neo/neos-2020.csv")
    if _MOVE_WARNING:
        print(_MOVE_WARNING, file=sys.stderr)

# Jobs (local, SLURM, conda environments) import the package from this checkout.
export_source_path(REPO / "src")

# Final products of each stage; rule `all` requests them all.
FINAL_OUTPUTS = []


def config_slice(*keys):
    """The config sections a rule reads (dotted keys), declared as its ``settings`` param.

    Snakemake reruns a job when its params change, so editing any of these
    sections (e.g. simulation.impactor.window_end_years) reruns the rules that
    read it and everything downstream, and nothing else.
    """
    sections = {}
    for key in keys:
        value = config
        for part in key.split("."):
            value = value[part]
        sections[key] = value
    return sections


# Trainer settings shared by the two Lightning models.
TRAINER_KEYS = (
    "training.precision",
    "training.accelerator",
    "training.deterministic",
    "training.num_workers",
)


def repo_file(relative):
    """A file shipped with the repository (resources/, config/), as an absolute path.

    Marked local() so that it is read from the checkout even when the default
    storage provider (S3 on AWS Batch) holds the results.
    """
    return local(str(REPO / relative))


def survey_location():
    """The HiPS survey: URLs as given, relative folders against the repository."""
    location = config["survey"]["location"]
    if "://" in location or Path(location).is_absolute():
        return location
    return str(REPO / location)


def shipped_survey_files(folder):
    """A local survey's properties file and the files its SHA256SUMS lists (the shipped
    tiles): as inputs, Snakemake reruns the jobs that read them when a tile changes."""
    folder = Path(folder)
    files = [folder / "properties", *listed_files(folder)]
    return [local(str(f)) for f in dict.fromkeys(files)]


def survey_properties(wildcards):
    """The cutout survey's shipped files when it is a local folder (URLs are not tracked)."""
    location = survey_location()
    return [] if "://" in location else shipped_survey_files(location)


def detection_survey_files(wildcards):
    """The detection survey's properties and the tiles its SHA256SUMS lists."""
    return shipped_survey_files(REPO / config["detection"]["survey"])


def frame_set_files(wildcards):
    """The files of a frame set (frames.sets.NAME: lights and calibration frames), as local
    inputs: a changed frame reruns the set."""
    entry = config["frames"]["sets"][wildcards.frameset]
    files = []
    for key in FRAME_GLOB_KEYS:
        if entry.get(key):
            files += sorted(glob.glob(resolve_frames_glob(entry[key], REPO)))
    return [local(f) for f in files]


def shard_ids(n):
    return [f"{i:04d}" for i in range(n)]


# Simulation shards per population: results/sim/{population}/shard-{shard}.parquet
SIM_SHARDS = {
    pop: shard_ids(config["simulation"][pop]["shards"]) for pop in POPULATIONS
}
# Cutout extraction shards: results/cutouts/shard-{shard}.npy (+ .parquet)
CUTOUT_SHARDS = shard_ids(config["survey"]["shards"])


def sim_shards(population):
    return expand(
        "results/sim/{population}/shard-{shard}.parquet",
        population=population,
        shard=SIM_SHARDS[population],
    )


def ephemeris_shards():
    return [
        f"results/ephemerides/{pop}/shard-{shard}.parquet"
        for pop in POPULATIONS
        for shard in SIM_SHARDS[pop]
    ]


def all_sim_shards():
    return [
        f"results/sim/{pop}/shard-{shard}.parquet"
        for pop in POPULATIONS
        for shard in SIM_SHARDS[pop]
    ]


def cutout_shards(ext):
    return [f"results/cutouts/shard-{shard}.{ext}" for shard in CUTOUT_SHARDS]


# --- models (asteroid_ml.registry) -------------------------------------------------------
EVAL_MODELS = evaluated_models()
DETECTION_MODELS = model_names(task="detection")
SAVED_DETECTION_MODELS = saved_detection_models()


def model_file(model):
    """The file a trained model is loaded from."""
    return f"results/models/{model}/{MODELS[model].filename}"


def forward_shards(kind="shard", ext="parquet"):
    """Forward runs of every simulation shard: results/forward/{population}/shard-K.parquet,
    or their element series (kind="series", ext="npy")."""
    return [
        f"results/forward/{pop}/{kind}-{shard}.{ext}"
        for pop in POPULATIONS
        for shard in SIM_SHARDS[pop]
    ]


def evaluate_inputs(wildcards):
    spec = MODELS[wildcards.model]
    inputs = {"model": model_file(wildcards.model)} if spec.trained else {}
    if spec.inputs in ("forward", "series"):
        inputs["forward"] = forward_shards()
    if spec.inputs == "series":
        inputs["series"] = forward_shards("series", "npy")
    if spec.task == "detector":
        inputs.update(
            test="results/dataset/test.npy", manifest="results/dataset/manifest.parquet"
        )
    else:
        inputs["elements"] = "results/dataset/elements.parquet"
    return inputs


def real_catalog_inputs(wildcards):
    """Inputs of the real_catalog_summary rule: the catalog, its forward runs, and the file
    and metrics.json (with the operating threshold) of every impactor model and baseline.
    """
    shards = shard_ids(config["hazard"]["catalog_shards"])
    inputs = {
        "catalog": repo_file("resources/neo/neos-2020.csv"),
        "forward": [f"results/forward/catalog/shard-{s}.parquet" for s in shards],
        "series": [f"results/forward/catalog/series-{s}.npy" for s in shards],
    }
    for name in model_names("impactor"):
        inputs[f"metrics_{name}"] = f"results/eval/{name}/metrics.json"
        if MODELS[name].trained:
            inputs[f"model_{name}"] = model_file(name)
    return inputs


def catalog_forward_files(kind, ext):
    """Forward-run files of the real catalog: results/forward/catalog/{kind}-K.{ext}."""
    return [
        f"results/forward/catalog/{kind}-{s}.{ext}"
        for s in shard_ids(config["hazard"]["catalog_shards"])
    ]


def hazard_ranking_inputs(wildcards):
    """Inputs of the hazard_ranking rule: forward tables, element series and forward tracks
    of the simulated objects and of the real catalog, and the dataset's splits."""
    return {
        "sim_forward": forward_shards(),
        "sim_series": forward_shards("series", "npy"),
        "sim_track": forward_shards("track", "npy"),
        "cat_forward": catalog_forward_files("shard", "parquet"),
        "cat_series": catalog_forward_files("series", "npy"),
        "cat_track": catalog_forward_files("track", "npy"),
        "elements": "results/dataset/elements.parquet",
    }


def eval_files(models, filename):
    return [f"results/eval/{model}/{filename}" for model in models]


# --- scheduling ---------------------------------------------------------------------------
# Two chains set the length of a run (on the default, docs/benchmarks.md): simulation ->
# ephemerides -> detection candidates -> detection evaluation (~7 min of one-core jobs after
# the first 1.5 min), and simulation -> cutouts -> data set -> impactor models -> the
# real-catalog summary (after the catalog's two forward runs, ~3.5 min each). Their jobs get
# LONGEST_CHAIN_PRIORITY; the forward runs of the real catalog, needed only by the summary,
# come after them but before side branches (the stamp classifiers, figures), which fill the
# cores left. Priority only orders jobs that are ready to run; no output depends on it. The
# scheduler does not hold cores back for a job that needs more than are free, so the
# default's short jobs on the chains use one core (survey.workers: 1 in config/config.yaml).
LONGEST_CHAIN_PRIORITY = 10
CATALOG_RUN_PRIORITY = 5


def evaluation_priority(wildcards):
    """The impactor models' evaluations are on a longest chain, the stamp models' are not."""
    return LONGEST_CHAIN_PRIORITY if MODELS[wildcards.model].task == "impactor" else 0


# --- figures ------------------------------------------------------------------------------
# Report sections, in the order of the workflow.
REPORT_SECTIONS = {
    "simulation": "1. Simulation",
    "dataset": "2. Data set",
    "training": "3. Training",
    "evaluation": "4. Evaluation",
    "real_neos": "5. Real NEOs",
    "detection": "6. Detection on difference images",
}


def figure_output(name, fmt, section):
    """results/figures/{name}.{fmt}, marked for the report with the figure's caption."""
    return report(
        f"results/figures/{name}.{fmt}",
        caption=f"../report/{name}.rst",
        category=REPORT_SECTIONS[section],
        subcategory=name.replace("_", " ").capitalize(),
        labels={"figure": name.replace("_", " "), "format": fmt.upper()},
    )


# --- intermediates deleted by hand -------------------------------------------------------
def intermediate_files():
    """(file, the rule that writes it) for the sharded intermediates of the chain."""
    catalog = shard_ids(config["hazard"]["catalog_shards"])
    families = [
        ("simulate", all_sim_shards()),
        ("ephemerides", ephemeris_shards()),
        ("cutouts", cutout_shards("npy") + cutout_shards("parquet")),
        ("forward_simulated", forward_shards() + forward_shards("series", "npy")),
        (
            "forward_catalog",
            [f"results/forward/catalog/{kind}-{s}.{ext}" for s in catalog
             for kind, ext in (("shard", "parquet"), ("series", "npy"))],
        ),
    ]  # fmt: skip
    return [(path, rule) for rule, paths in families for path in paths]


def report_missing_intermediates():
    """Name intermediates that are missing while final results exist: Snakemake does not
    rebuild an intermediate whose downstream outputs are newer ("Nothing to be done"),
    which reads as "all results present". One line; README: Troubleshooting."""
    if not workflow.is_main_process or not any(Path(p).exists() for p in FINAL_OUTPUTS):
        return
    missing = [
        (path, rule) for path, rule in intermediate_files() if not Path(path).exists()
    ]
    if not missing:
        return
    rules = sorted({rule for _, rule in missing})
    files = " ".join(path for path, _ in missing[:3]) + (
        " ..." if len(missing) > 3 else ""
    )
    print(
        f"note: {len(missing)} intermediate file(s) missing while later results exist "
        f"(rules {', '.join(rules)}); Snakemake rebuilds them only when something downstream "
        f"must rerun. To rebuild them (and rerun what follows): snakemake --cores 2 {files}",
        file=sys.stderr,
    )


def summary_inputs(wildcards):
    """The tables of results/summary.md that this config's run makes (a stage it skips has
    no section); read when the DAG is built, after every stage file has added its outputs.
    """
    inputs = {k: v for k, v in SUMMARY_SOURCES.items() if v in FINAL_OUTPUTS}
    inputs["metrics"] = expand("results/eval/{model}/metrics.json", model=list(MODELS))
    return inputs
