# asteroid-ml: simulate asteroids with AMUSE, cut real sky out of a HiPS survey,
# inject the asteroids, train and evaluate detectors, and draw the paper figures.
# Stages live in workflow/rules/*.smk; the science lives in src/asteroid_ml.
import os

from snakemake.utils import min_version

min_version("9.0")

# The package reads schema, config and resources from the folder of this Snakefile (also where
# Snakemake deployed the sources of a remote job): asteroid_ml.paths.ROOT_ENV. Set here, for
# this process and the jobs it starts; nothing asks the user for it.
os.environ.update(ASTEROID_ML_ROOT=workflow.basedir)


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/cutouts.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/hazard.smk"
include: "workflow/rules/detection.smk"
include: "workflow/rules/frames.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"


report_missing_intermediates()


# With --software-deployment-method apptainer, every job runs in the job image.
if config["container"]:

    container: config["container"]


rule all:
    default_target: True
    input:
        FINAL_OUTPUTS,
