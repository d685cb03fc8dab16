"""The AMUSE gravity code in au, day and heliocentric axes, and the worker processes behind it.

:class:`GravityCode` wraps Mercury (hybrid symplectic, close-encounter handling; the
default) or Huayno (SHARED4 with collision detection). It records the particles'
collisions with the massive bodies (from Mercury's close-encounter record,
:mod:`asteroid_ml.simulation.mercury_encounters`, or Huayno's contact stopping
condition), and it owns its worker processes: they are stopped, or killed, on exit,
and a watchdog kills them if this Python process dies without an exit (SIGKILL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asteroid_ml.simulation.mercury_encounters import close_encounter_minima
from asteroid_ml.simulation.solar_system import AU_KM, BODIES, GM_AU3_D2, RADIUS_KM
from asteroid_ml.workflow_support import children_ignore_ctrl_c

#: Most massless particles that share one AMUSE code instance; larger sets are split
#: over instances that carry the same planets from the same start. Why: Mercury's AMUSE
#: build sums the potential energy over all pairs of bodies, massless ones included, at
#: every commit, at every evolve call and every 500 steps within one, so its cost per
#: particle grows with N. Measured on 27,800 background objects over 200 yr: 24,400
#: asteroid-yr/core-s in one instance, 34,900 in instances of 1,000 (an instance costs
#: ~0.04 core-s to start and its planets ~0.5 core-s per 1,000 yr at the 4-day step).
#: It also keeps any shard within Mercury's NMAX (200,000 bodies).
PARTICLES_PER_CODE = 1000


class SimulationError(RuntimeError):
    """The gravity code failed (crashed worker, wrong time, lost particles)."""


def _amuse_g() -> float:
    from amuse.units import constants, units

    return constants.G.value_in(units.AU**3 / units.MSun / units.day**2)


class GravityCode:
    """A thin wrapper around an AMUSE gravity code in au, day and heliocentric axes.

    The massive bodies are :data:`BODIES` (Sun first); positions are given and
    returned relative to the Sun. Massless particles are added with
    :meth:`add_particles` and identified by the integer handles it returns.
    Use as a context manager: the worker is stopped (and, if it does not stop,
    killed) on exit, whatever happened.

    Collisions of particles with the massive bodies (physical radii
    :data:`~asteroid_ml.simulation.solar_system.RADIUS_KM`) are recorded by :meth:`evolve` and
    reported by :meth:`collisions`. Mercury (as built by AMUSE) never removes a
    particle, so they are read from its close-encounter minima
    (:mod:`asteroid_ml.simulation.mercury_encounters`); Huayno runs its collision-detecting
    variant and the particle is removed at contact.
    """

    def __init__(self, code: str, timestep_days: float) -> None:
        if code not in ("mercury", "huayno"):
            raise ValueError(f"simulation.code: unknown gravity code {code!r} (mercury, huayno)")
        self.name = code
        self.timestep_days = timestep_days
        self._code: Any = None
        self._big: Any = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._encounter_dir: tempfile.TemporaryDirectory[str] | None = None
        # particle id in the code -> (time in days, body name) of its first collision
        self._collisions: dict[int, tuple[float, str]] = {}
        self._body_ids: dict[int, str] = {}
        # (particle id in the code, body name) -> (time in days, distance in au) of the
        # closest encounter minimum in Mercury's record
        self._closest: dict[tuple[int, str], tuple[float, float]] = {}
        self._id_of_key: dict[int, int] = {}  # AMUSE particle key -> id in the code

    # Lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> GravityCode:
        from amuse.support.literature import TrackLiteratureReferences

        TrackLiteratureReferences.suppress_output()
        # AMUSE logs every state transition at INFO under the logger name "state".
        logging.getLogger("state").setLevel(logging.WARNING)
        try:
            with children_ignore_ctrl_c():
                self._start_code()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _start_code(self) -> None:
        """Start the AMUSE worker (and the watchdog process) of the chosen code."""
        if self.name == "mercury":
            from amuse.community.mercury.interface import MercuryWayWard

            self._code = MercuryWayWard(channel_type="sockets", initialize_mpi=False)
            self._code.initialize_code()
            self._code.parameters.timestep = self.timestep_days | _u().day
            # Mercury opens this file with status='old' and retries forever on
            # failure, so it must exist before the first evolve.
            self._encounter_dir = tempfile.TemporaryDirectory(prefix="mercury-ce-")
            self.encounter_file.touch()
            self._code.parameters.close_encounters_file = str(self.encounter_file)
        else:
            from amuse.community.huayno.interface import Huayno
            from amuse.units import nbody_system

            converter = nbody_system.nbody_to_si(1.0 | _u().MSun, 1.0 | _u().AU)
            self._code = Huayno(converter, channel_type="sockets", initialize_mpi=False)
            self._code.parameters.timestep_parameter = 0.01
            # SHARED4 with a check for contact between particles' radii.
            self._code.parameters.inttype_parameter = self._code.inttypes.SHARED4_COLLISIONS
            self._code.stopping_conditions.collision_detection.enable()
        self._start_watchdog()

    def __exit__(self, exc_type: object = None, *exc: object) -> None:
        code, self._code = self._code, None
        tree = worker_processes(code)
        WORKER_CPU_SECONDS[0] += _cpu_seconds(tree)
        if code is not None:
            # On an error or a signal the worker may be busy inside a long evolve_model and
            # would only read a stop request when done: kill it first, then drop the channel.
            if exc_type is not None:
                for pid in reversed(tree):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            try:
                if exc_type is not None:
                    raise RuntimeError("worker killed")
                code.stop()
            except Exception:
                # Dead worker: drop the channel so that AMUSE's __del__ does not retry.
                with contextlib.suppress(Exception):
                    code.legacy_interface.channel.stop()
                with contextlib.suppress(Exception):
                    code.legacy_interface.channel = None
        for pid in tree:  # whatever did not exit with stop()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._watchdog is not None:
            with contextlib.suppress(Exception):
                self._watchdog.kill()
                self._watchdog.wait(timeout=5)
            self._watchdog = None
        if self._encounter_dir is not None:
            self._encounter_dir.cleanup()
            self._encounter_dir = None

    def _start_watchdog(self) -> None:
        """Kill the worker processes if this Python process dies without ``__exit__`` (SIGKILL),
        and remove Mercury's encounter-record directory."""
        tree = worker_processes(self._code)
        if not tree:
            return
        scratch = self._encounter_dir.name if self._encounter_dir is not None else ""
        script = (
            "import os,shutil,sys,time,signal\n"
            "parent,scratch=int(sys.argv[1]),sys.argv[2]\n"
            "workers=[int(p) for p in sys.argv[3:]]\n"
            "while True:\n"
            "    time.sleep(0.5)\n"
            "    if os.getppid()!=parent:\n"
            "        for w in workers:\n"
            "            try: os.kill(w,signal.SIGKILL)\n"
            "            except OSError: pass\n"
            "        if scratch: shutil.rmtree(scratch,ignore_errors=True)\n"
            "        break\n"
        )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", script, str(os.getpid()), scratch, *map(str, tree)],
            stdin=subprocess.DEVNULL,
        )

    # State -----------------------------------------------------------------------------
    def set_massive_bodies(self, pos: np.ndarray, vel: np.ndarray) -> None:
        """Massive bodies' heliocentric positions (au) and velocities (au/day), Sun first."""
        from amuse.datamodel import Particles

        u = _u()
        masses = np.array([GM_AU3_D2[b] for b in BODIES]) / _amuse_g()
        radii_au = np.array([RADIUS_KM[b] for b in BODIES]) / AU_KM
        if self.name == "mercury":
            sun = Particles(1)
            sun.mass = masses[0] | u.MSun
            sun.radius = radii_au[0] | u.AU
            sun.position = [0.0, 0.0, 0.0] | u.AU
            sun.velocity = [0.0, 0.0, 0.0] | u.AUd
            self._code.central_particle.add_particles(sun)
            big = Particles(len(BODIES) - 1)
            big.mass = masses[1:] | u.MSun
            # Mercury derives collision radii from the density.
            big.density = (masses[1:] / (4 / 3 * np.pi * radii_au[1:] ** 3)) | u.MSun / u.AU**3
            big.position = (pos[1:] - pos[0]) | u.AU
            big.velocity = (vel[1:] - vel[0]) | u.AUd
            big.celimit = 3.0
            self._big = self._code.orbiters.add_particles(big)
            self._code.commit_particles()
            self._body_ids = dict(zip(self._big.index_in_code.tolist(), BODIES[1:], strict=True))
        else:
            big = Particles(len(BODIES))
            big.mass = masses | u.MSun
            big.radius = radii_au | u.AU
            big.position = (pos - pos[0]) | u.AU
            big.velocity = (vel - vel[0]) | u.AUd
            self._big = self._code.particles.add_particles(big)
            self._code.commit_particles()
            self._body_ids = dict(zip(self._big.index_in_code.tolist(), BODIES, strict=True))

    def add_particles(self, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
        """Add massless particles at heliocentric (pos, vel); returns their handles (the
        AMUSE particle keys, valid after a particle has left the code)."""
        from amuse.datamodel import Particles

        u = _u()
        sun_pos, sun_vel = self._sun_state()
        new = Particles(len(pos))
        new.mass = 0.0 | u.MSun
        new.position = (pos + sun_pos) | u.AU
        new.velocity = (vel + sun_vel) | u.AUd
        if self.name == "mercury":
            new.density = 1.0 | u.MSun / u.AU**3
            new.celimit = 0.0
            added = self._code.orbiters.add_particles(new)
        else:
            new.radius = 0.0 | u.AU
            added = self._code.particles.add_particles(new)
        keys = np.asarray(added.key).copy()
        self._id_of_key.update(zip(keys.tolist(), added.index_in_code.tolist(), strict=True))
        return keys

    def _sun_state(self) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "mercury":
            return np.zeros(3), np.zeros(3)
        u = _u()
        sun = self._big[0]
        return sun.position.value_in(u.AU), sun.velocity.value_in(u.AUd)

    def massive_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Heliocentric positions and velocities of :data:`BODIES` (Sun = zeros)."""
        u = _u()
        pos = self._big.position.value_in(u.AU)
        vel = self._big.velocity.value_in(u.AUd)
        if self.name == "mercury":
            return np.vstack([np.zeros(3), pos]), np.vstack([np.zeros(3), vel])
        return pos - pos[0], vel - vel[0]

    def particle_state(self, handles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heliocentric states of the particles ``handles`` (from :meth:`add_particles`);
        third value: mask of particles still in the code."""
        u = _u()
        live = self._code.orbiters if self.name == "mercury" else self._code.particles
        present = np.isin(handles, live.key)
        pos = np.full((len(handles), 3), np.nan)
        vel = np.full((len(handles), 3), np.nan)
        if present.any():
            kept = live._subset(handles[present])
            sun_pos, sun_vel = self._sun_state()
            pos[present] = kept.position.value_in(u.AU) - sun_pos
            vel[present] = kept.velocity.value_in(u.AUd) - sun_vel
        return pos, vel, present

    def evolve(self, t_days: float) -> None:
        """Advance to model time ``t_days`` (days since the start); checks the time reached.

        Collisions met on the way are recorded (see :meth:`collisions`).
        """
        u = _u()
        try:
            if self.name == "mercury":
                self._code.evolve_model(t_days | u.day)
                reached = self._code.get_time().value_in(u.day)
                self._read_mercury_encounters()
            else:
                contact = self._code.stopping_conditions.collision_detection
                while True:
                    self._code.evolve_model(t_days | u.day)
                    if not contact.is_set():
                        break
                    self._remove_huayno_contacts(contact)
                reached = self._code.model_time.value_in(u.day)
        except SimulationError:
            raise
        except Exception as exc:
            raise SimulationError(
                f"AMUSE {self.name} worker failed while evolving to t = {t_days:.3f} d: {exc}"
            ) from exc
        if abs(reached - t_days) > 1e-6 * max(1.0, abs(t_days)):
            raise SimulationError(
                f"AMUSE {self.name} stopped at t = {reached} d instead of {t_days} d "
                "(hand-over interval must be a multiple of the timestep)"
            )

    def _record_collision(self, particle_id: int, t_days: float, body: str) -> None:
        if particle_id not in self._collisions:
            self._collisions[particle_id] = (t_days, body)

    @property
    def encounter_file(self) -> Path:
        """Mercury's close-encounter output (emptied by each :meth:`evolve`)."""
        assert self._encounter_dir is not None, "only Mercury writes close encounters"
        return Path(self._encounter_dir.name) / "close_encounters.txt"

    def _read_mercury_encounters(self) -> None:
        """Collisions among the close-encounter minima written since the last call."""
        path = self.encounter_file
        data = path.read_bytes()
        # Mercury appends and closes the file at each write: emptying it between
        # calls keeps it small (it repeats a header line per body at every restart).
        path.write_bytes(b"")
        if b"\x0c6b" not in data:  # no encounter minimum (most calls): skip the parse
            return
        minima = close_encounter_minima(data, str(path))
        radius_au = {i: RADIUS_KM[b] / AU_KM for i, b in self._body_ids.items()}
        for t, a, b, d in minima:
            for body_id, other in ((a, b), (b, a)):
                if body_id not in radius_au or other in self._body_ids:
                    continue
                key = (int(other), self._body_ids[body_id])
                if key not in self._closest or d < self._closest[key][1]:
                    self._closest[key] = (float(t), float(d))
                if d < radius_au[body_id]:
                    self._record_collision(int(other), float(t), self._body_ids[body_id])

    def _remove_huayno_contacts(self, contact: Any) -> None:
        """Record and remove the particles Huayno stopped on (contact with a body)."""
        t = self._code.model_time.value_in(_u().day)
        gone = []
        for k in range(len(contact.particles(0))):
            pair = [contact.particles(0)[k], contact.particles(1)[k]]
            ids = [int(p.index_in_code) for p in pair]
            bodies = [self._body_ids.get(i) for i in ids]
            if all(bodies):
                raise SimulationError(f"AMUSE huayno: {bodies[0]} and {bodies[1]} collided")
            body = next(b for b in bodies if b)
            for p, i, b in zip(pair, ids, bodies, strict=True):
                if b is None:
                    self._record_collision(i, t, body)
                    gone.append(p)
        for p in gone:
            with contextlib.suppress(Exception):  # already removed (in two pairs)
                self._code.particles.remove_particle(p)

    def collisions(self, handles: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """Time (days since the start; NaN if none) and body of each particle's first
        collision with a massive body (distance below the body's physical radius)."""
        found = [self._collisions.get(self._id_of_key[k]) for k in handles.tolist()]
        t = np.array([np.nan if f is None else f[0] for f in found], dtype=float)
        return t, [None if f is None else f[1] for f in found]

    def closest_approaches(self, handles: np.ndarray, body: str) -> tuple[np.ndarray, np.ndarray]:
        """Time (days since the start) and distance (au) of each particle's closest encounter
        with ``body`` in Mercury's record (within the body's ``celimit`` Hill radii); NaN
        where none was recorded (always for Huayno, which keeps no such record)."""
        found = [self._closest.get((self._id_of_key[k], body)) for k in handles.tolist()]
        t = np.array([np.nan if f is None else f[0] for f in found], dtype=float)
        d = np.array([np.nan if f is None else f[1] for f in found], dtype=float)
        return t, d

    def total_energy(self) -> float:
        return float(
            self._code.get_total_energy().value_in(_u().MSun * _u().AU ** 2 / _u().day ** 2)
        )


def _u() -> Any:
    from amuse.units import units

    return units


#: CPU seconds used by AMUSE worker processes of this Python process (for benchmarks).
WORKER_CPU_SECONDS = [0.0]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of running processes (from /proc; 0 where unreadable)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _worker_pid(code: Any) -> int | None:
    """PID of the process a sockets-channel code was started as (AMUSE's launcher)."""
    with contextlib.suppress(Exception):
        return int(code.legacy_interface.channel.process.pid)
    return None


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    return children


def worker_processes(code: Any) -> list[int]:
    """The launcher process of an AMUSE worker and all its descendants (the worker proper:
    AMUSE starts ``run_command_redirected.py``, which runs the code's binary)."""
    root = _worker_pid(code)
    if root is None:
        return []
    tree, frontier = [root], [root]
    while frontier:
        frontier = [c for p in frontier for c in _children(p)]
        tree += frontier
    return tree


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks stop the AMUSE workers."""
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
