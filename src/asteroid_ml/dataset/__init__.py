"""Dataset stage: inject simulated asteroids and artefacts into real cutouts, split, store.

- :mod:`.assemble`: the stage (rule ``assemble_dataset``): plan the samples, inject
  them block by block (any number of worker processes, byte-identical output),
  write the split arrays, the manifest and the tabular impactor dataset;
- :mod:`.injection`: PSFs, trails, noise, artefacts and one sample's injection;
- :mod:`.sky`: blank fill and robust sky noise of a cutout;
- :mod:`.splits`: hash splits by object;
- :mod:`.card`: the dataset card;
- :mod:`.checks`: cross-key rules of the config section;
- :mod:`.synthetic`: small synthetic inputs for tests and benchmarks.

The cutout plan (rule ``cutout_targets``) belongs to the cutout stage:
:mod:`asteroid_ml.hips.targets`. This package module imports nothing, so that config
validation stays fast.
"""
