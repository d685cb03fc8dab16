"""Models: the Lightning networks, their DataModules, the scikit-learn baselines.

- :mod:`.features`: the inputs (robust image normalisation, Autoscan-style image
  features, orbital-element features), pure NumPy;
- :mod:`.datamodules`: memory-mapped cutout and orbital-element DataModules,
  dihedral augmentation;
- :mod:`.base`, :mod:`.detector` (:class:`~.detector.DetectorCNN`), :mod:`.impactor`
  (:class:`~.impactor.ImpactorMLP`): the LightningModules;
- :mod:`.training`: Trainer set-up, resume from ``last.ckpt``, checkpoint loading;
- :mod:`.baselines`: the random forests (rules ``baseline_detector``, ``baseline_impactor``);
- :mod:`.synthetic`: small synthetic datasets for tests and benchmarks.

The model names, tasks and saved files are in :mod:`asteroid_ml.registry`. This
package module imports nothing (torch is loaded when a model is).
"""
