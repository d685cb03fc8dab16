"""Detection as surveys do it: several epochs of a field, difference images, a real source
finder (sep) on them, and real/bogus labels from matching its candidates to the truth.

Modules, in pipeline order:

* :mod:`.survey_model` -- pixel scale, seeing, zero point, sky noise, cadence and the
  limiting magnitude derived from them;
* :mod:`.epochs` -- science epochs of one field built from a real reference cutout
  (seeing change, astrometric offset, fresh noise, the mover, single-frame artefacts);
* :mod:`.difference` -- registration and PSF matching of the reference, difference image;
* :mod:`.candidates` -- sep on the difference, stamp triplets, autoScan-like features, labels;
* :mod:`.sequences` -- linking detections of several epochs into linear-motion sequences.
"""
