"""REBOUND integration that leaves Ctrl-C to Python.

REBOUND (5.x) installs its own C handler for SIGINT in every ``integrate`` call and
does not put the previous one back. After the first call, Ctrl-C outside an
integration only sets REBOUND's flag: the AMUSE phase of a simulation job would then
run to its end while Snakemake waits ("Terminating processes on user request").
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def integrate(sim: Any, t: float, exact_finish_time: int = 1) -> None:
    """``sim.integrate(t)``, then Python's SIGINT handler again (KeyboardInterrupt on Ctrl-C).

    A Ctrl-C during the integration stops it; REBOUND raises KeyboardInterrupt.
    """
    handler = signal.getsignal(signal.SIGINT)
    try:
        sim.integrate(t, exact_finish_time=exact_finish_time)
    finally:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)
