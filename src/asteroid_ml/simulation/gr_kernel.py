"""The Sun's first-order post-Newtonian acceleration, as a compiled REBOUND callback.

a = GM/(c^2 r^3) [(4 GM/r - v^2) r + 4 (r·v) v] (harmonic gauge; heliocentric r, v of
every body but the Sun; the tiny back-reaction on the Sun is neglected). IAS15 calls the
additional force at every force evaluation, ~18,000 times per simulated year with the
Moon on board. As a Python function the call cost ~30 µs, ~90 % of the precise check of
future close approachers; compiled with numba, REBOUND calls it without entering Python
(docs/benchmarks.md). :func:`sun_gr_acceleration` is the same formula in NumPy, the
reference: the compiled callback does the same operations in the same order without
fused multiply-adds (numba does not contract without ``fastmath``), so both give the same
accelerations and orbits bit for bit (tests/test_close_approach.py).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any

import numpy as np

from asteroid_ml.simulation.solar_system import C_AU_D, GM_SUN

#: GM_sun / c^2 (au).
_GR_MU_C2 = GM_SUN / C_AU_D**2
#: 4 GM_sun (au^3 day^-2).
_FOUR_GM_SUN = 4 * GM_SUN


def sun_gr_acceleration(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1PN acceleration (au/day^2) of bodies at heliocentric positions ``r`` (au) and
    velocities ``v`` (au/day), both ``(n, 3)``: the reference of the compiled callback."""
    r2 = (r * r).sum(axis=1)
    rn = np.sqrt(r2)
    v2 = (v * v).sum(axis=1)
    rv = (r * v).sum(axis=1)
    coeff = _GR_MU_C2 / (r2 * rn)
    return (coeff * (_FOUR_GM_SUN / rn - v2))[:, None] * r + (4 * coeff * rv)[:, None] * v


def _struct_layout() -> tuple[int, int, int]:
    """Word (8-byte) indices of ``N`` and ``particles`` in REBOUND's ``struct
    reb_simulation`` and the words per ``struct reb_particle`` (x, y, z, vx, vy, vz, ax,
    ay, az first), from rebound's own ctypes declarations."""
    import rebound

    n_offset = rebound.Simulation.N.offset
    particles_offset = rebound.Simulation._particles.offset
    particle_size = ctypes.sizeof(rebound.Particle)
    if n_offset % 8 or particles_offset % 8 or particle_size % 8:
        raise RuntimeError("unexpected REBOUND struct layout: fields not on 8-byte words")
    return n_offset // 8, particles_offset // 8, particle_size // 8


@lru_cache(maxsize=1)
def sun_gr_callback() -> Any:
    """The compiled callback, as a ctypes function pointer of REBOUND's additional-force
    type: adds :func:`sun_gr_acceleration` of every body but the Sun (particle 0) to the
    accelerations REBOUND computed."""
    import rebound
    from numba import carray, cfunc, types
    from numba.extending import intrinsic

    @intrinsic
    def as_double_pointer(typingctx: Any, address: Any) -> Any:
        """An int64 memory address as a ``double*`` (for :func:`numba.carray`)."""
        sig = types.CPointer(types.float64)(types.int64)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            pointer_type = context.get_value_type(types.CPointer(types.float64))
            return builder.inttoptr(args[0], pointer_type)

        return sig, codegen

    n_word, particles_word, stride = _struct_layout()
    mu_c2 = _GR_MU_C2
    four_gm = _FOUR_GM_SUN

    # The simulation struct is read as 8-byte words: N (unsigned long) and the particle
    # array's address are two of them.
    @cfunc(types.void(types.CPointer(types.int64)), nopython=True)
    def add_sun_gr(sim):  # type: ignore[no-untyped-def]
        n = sim[n_word]
        p = carray(as_double_pointer(sim[particles_word]), (n * stride,))
        for j in range(1, n):
            k = j * stride
            rx = p[k] - p[0]
            ry = p[k + 1] - p[1]
            rz = p[k + 2] - p[2]
            vx = p[k + 3] - p[3]
            vy = p[k + 4] - p[4]
            vz = p[k + 5] - p[5]
            r2 = rx * rx + ry * ry + rz * rz
            rn = np.sqrt(r2)
            v2 = vx * vx + vy * vy + vz * vz
            rv = rx * vx + ry * vy + rz * vz
            coeff = mu_c2 / (r2 * rn)
            radial = coeff * (four_gm / rn - v2)
            along_v = 4 * coeff * rv
            p[k + 6] += radial * rx + along_v * vx
            p[k + 7] += radial * ry + along_v * vy
            p[k + 8] += radial * rz + along_v * vz

    return ctypes.cast(add_sun_gr.address, rebound.simulation.AFF)
