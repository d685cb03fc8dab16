"""Simulation stage: the populations (AMUSE), their ephemerides, and the physics checks.

Modules, in the order of the stage:

- :mod:`.solar_system`: constants, frames, ephemeris states, orbital elements;
- :mod:`.impact_flux`: Öpik impact rates and encounter geometry;
- :mod:`.draws`: random impact launches, background orbits and H;
- :mod:`.gravity_code`: the AMUSE code wrapper and its worker processes;
- :mod:`.mercury_encounters`: decoder of Mercury's close-encounter record;
- :mod:`.handover`: the IAS15 launch phase, the hand-over grid, the planet track;
- :mod:`.populations`: the impactor and background runs, one shard (rule ``simulate``);
- :mod:`.ephemeris`: sky positions and magnitudes at the observations (rule ``ephemerides``);
- :mod:`.close_approach`: precise close approaches (REBOUND IAS15) and the JPL check;
- :mod:`.moid`: Earth MOID;
- :mod:`.checks`: cross-key rules of the config section (no heavy imports).

This package module imports nothing, so that config validation stays fast.
"""
