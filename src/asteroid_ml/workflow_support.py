"""Glue between Snakemake's ``script:`` directive and the package.

Per-rule scripts in ``workflow/scripts`` are three lines: import the stage
function, open :func:`rule_logging`, call it. Logging goes to the rule's log
file and to stderr; an exception is logged with its traceback and re-raised so
the job fails (and, since every writer is atomic, leaves no partial output). A job
also stops, cleanly, when SIGTERM arrives or when the process that started it ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def rule_logging(smk: Any) -> Iterator[logging.Logger]:
    """Configure logging for the Snakemake job ``smk`` (the injected ``snakemake`` object).

    A failure (an exception, or Ctrl-C) prints one line on the console, naming the rule
    and the cause, and writes the traceback to the rule's log file only: with several
    jobs failing at once (Ctrl-C reaches every job) the console stays readable.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        handlers.append(logging.FileHandler(str(smk.log[0]), mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger(f"asteroid_ml.rule.{smk.rule}")
    previous = _stop_on_sigterm()
    watch_ancestors(_ancestors(), logger)
    try:
        yield logger
    except (Exception, KeyboardInterrupt) as exc:
        if not smk.log:
            logger.exception("rule %s failed", smk.rule)
            raise
        _log_to_file_only(handlers[-1], f"rule {smk.rule} failed", exc)
        cause = (
            "interrupted (Ctrl-C)"
            if isinstance(exc, KeyboardInterrupt)
            else f"{type(exc).__name__}: {one_line(str(exc))}"
        )
        print_line_atomically(f"rule {smk.rule} failed: {cause} (traceback: {smk.log[0]})")
        raise SystemExit(1) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# POSIX: a write of at most PIPE_BUF bytes to a pipe is never interleaved with another's
# (4096 on Linux; POSIX guarantees at least 512).
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def print_line_atomically(line: str) -> None:
    """Write ``line`` and its newline to stderr in one write(2), cut to fit one pipe buffer.

    Jobs that fail together (Ctrl-C reaches every job) share Snakemake's stderr pipe;
    ``SystemExit(message)`` writes the message and its newline separately, so two jobs'
    lines could run together on one console line.
    """
    data = line.encode(errors="replace")
    if len(data) >= _PIPE_BUF:
        data = data[: _PIPE_BUF - 4].decode(errors="ignore").encode() + b"..."
    sys.stderr.flush()
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced (e.g. captured in tests)
        sys.stderr.write(data.decode() + "\n")
        return
    os.write(fd, data + b"\n")


def one_line(text: str) -> str:
    """A possibly multi-line message on one line (lines joined by '; ')."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _log_to_file_only(handler: logging.Handler, message: str, exc: BaseException) -> None:
    record = logging.LogRecord(
        "asteroid_ml.rule", logging.ERROR, __file__, 0, message, None,
        (type(exc), exc, exc.__traceback__),
    )  # fmt: skip
    handler.handle(record)


@contextlib.contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Block SIGINT while starting child processes (AMUSE workers, their launchers).

    Ctrl-C in a terminal reaches every process of the job's process group. Children
    inherit the blocked mask, so they never see it and print nothing; this process
    stops them in its own clean-up. SIGINT that arrives meanwhile is delivered here
    when the block ends, so no Ctrl-C is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_ctrl_c() -> None:
    """Initializer for worker processes (process pools): the parent handles Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM into SystemExit (so that ``finally`` blocks and atomic writers clean up);
    returns the previous handler, or None outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"terminated by signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (None if gone or not Linux)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


#: The processes that own a job: Snakemake (any process whose command line names it) or a
#: batch system's job step. A job watches its ancestors up to the first of these, and no
#: further: the shell that launched Snakemake may exit (nohup, setsid, a closed terminal).
OWNERS = ("snakemake", "slurmstepd")


def _command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _ancestors(levels: int = 4) -> list[tuple[int, str]]:
    """(pid, start time) of this process's parent, grandparent... up to and including the
    first that owns the job (:data:`OWNERS`), at most ``levels``, never init. Without an
    owner among them (a job started by hand), the parent alone."""
    chain, pid = [], os.getpid()
    for _ in range(levels):
        fields = _stat_fields(pid)
        if fields is None:
            break
        pid = int(fields[1])
        parent = _stat_fields(pid)
        if pid <= 1 or parent is None:
            break
        chain.append((pid, parent[19]))
        if any(owner in _command_line(pid) for owner in OWNERS):
            return chain
    return chain[:1]


def watch_ancestors(
    chain: list[tuple[int, str]], logger: logging.Logger, interval_s: float = 1.0
) -> None:
    """Stop this job (SIGTERM to itself) within ``interval_s`` when a process of ``chain``
    ends, e.g. when Snakemake is killed: a job must not outlive the run that started it
    (cluster jobs have the batch system's processes as ancestors, not Snakemake)."""
    if not chain:
        return

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            for pid, start in chain:
                fields = _stat_fields(pid)
                if fields is None or fields[19] != start:
                    logger.error("parent process %d ended (Snakemake killed?): stopping", pid)
                    os.kill(os.getpid(), signal.SIGTERM)
                    return

    threading.Thread(target=watch, name="watch-ancestors", daemon=True).start()


#: Seconds between progress lines of long steps (simulation shards, training): often enough
#: to see a job is alive, rarely enough for hours-long paper runs. Not physics.
PROGRESS_INTERVAL_S = 30.0


@contextlib.contextmanager
def progress_heartbeat(
    logger: logging.Logger,
    describe: Callable[[float], str],
    interval_s: float = PROGRESS_INTERVAL_S,
) -> Iterator[None]:
    """Log ``describe(elapsed_s)`` every ``interval_s`` while the block runs.

    For steps that cannot report progress themselves, such as one long AMUSE
    ``evolve_model`` call (the worker answers no query until it returns).
    """
    done = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not done.wait(interval_s):
            logger.info(describe(time.monotonic() - start))

    thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def export_source_path(src_dir: str | os.PathLike[str]) -> None:
    """Prepend ``src_dir`` to ``PYTHONPATH`` for every job this Snakemake process starts.

    With the project's ``.venv`` the package is installed anyway; this makes jobs in
    per-rule conda environments (``--sdm conda``, ``envs/*.yaml``) and cluster jobs that
    inherit the environment import the package from the same checkout.
    """
    parts = [str(src_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
