"""asteroid_ml: the importable core of the asteroid-impactor ML workflow.

Each stage of the Snakemake workflow lives in one module (``simulate``,
``ephemeris``, ``hips``, ``dataset``, ``models``, ``baselines``, ``evaluate``,
``figures``); the rules in ``workflow/rules`` only call into them.
"""

__version__ = "0.1.0"
