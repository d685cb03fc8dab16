"""Real CCD frames: a night of exposures of one field, from raw files to moving objects.

``reading`` (files, headers, checks) -> ``calibration`` (ccdproc) -> ``registration``
(astroalign, photometric scale) -> ``night`` (a prepared night) -> ``candidates`` (templates,
difference images and sep candidates with the detection stage's code) -> ``movers``
(scoring with a saved classifier, linking, ``find-movers``' outputs); ``fakes`` and
``evaluate`` measure a classifier on the frames with injected fakes. Heavy imports stay
inside functions (this package's ``__init__`` imports nothing).
"""
