"""Starting MPI jobs from tests: `run_mpi(script, *args, n=2)` runs `mpiexec -n N python script args`
and returns the finished process; `run_python` runs the same script as a plain process (a world of one).

MPI tests are skipped when mpiexec or mpi4py is missing, unless EMBER_REQUIRE_MPI=1 (as CI sets),
when they fail instead; both launchers check this first, so a test that launches needs nothing else.
The timeout is a hang guard, not a speed limit: a job still running then is stuck, so every process
it started is killed and the test fails showing the output so far.

Worker scripts live in workers/; `checks_of(script)` reads the names of the checks a worker runs
(from its CHECKS table) and `parse_checks(proc)` reads their results from its output, for
parametrising one test per check over a single launch (see workers/check_harness.py).
"""
import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKERS = os.path.join(HERE, "workers")
HANG_GUARD = 120  # seconds; a job that takes this long is stuck, not slow
CHECK_TAG = "CHECK "  # prefix of the result lines that check_harness prints from rank 0

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",  # no CMA/ptrace needed: works in containers
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
}
# variables a launcher gives its ranks: inherited by a job started from inside an MPI job, they would
# make a plain process believe it is a rank
_RANK_VARS = ("OMPI_COMM_WORLD_", "PMIX_", "PMI_")


def mpi_missing(launcher=True):
    """Why MPI jobs cannot run here ("mpiexec and mpi4py not installed"), or None when they can."""
    missing = [name for name, there in (("mpiexec", not launcher or shutil.which("mpiexec")),
                                        ("mpi4py", importlib.util.find_spec("mpi4py"))) if not there]
    return f"{' and '.join(missing)} not installed" if missing else None


def require_mpi(launcher=True):
    """Skip the calling test (or fixture) when MPI is missing; fail it under EMBER_REQUIRE_MPI=1."""
    reason = mpi_missing(launcher)
    if reason is None:
        return
    if os.environ.get("EMBER_REQUIRE_MPI") == "1":
        pytest.fail(f"EMBER_REQUIRE_MPI=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def mpi():
    """For tests that need MPI without launching through run_mpi/run_python."""
    require_mpi()


def worker(name):
    """The path of workers/<name>."""
    return os.path.join(WORKERS, name)


def job_env(env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith(_RANK_VARS)}
    full.update(MPI_ENV)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    full.update(env or {})
    return full


def run_mpi(script, *args, n=2, timeout=HANG_GUARD, env=None, fail_on_hang=True):
    """`mpiexec --oversubscribe -n N python script args`: the CompletedProcess (text stdout and stderr)."""
    require_mpi()
    command = [shutil.which("mpiexec"), "--oversubscribe", "-n", str(n), sys.executable, str(script),
               *map(str, args)]
    return _run(command, timeout, env, fail_on_hang)


def run_python(script, *args, timeout=HANG_GUARD, env=None, fail_on_hang=True):
    """`python script args` without a launcher: MPI makes it a world of one."""
    require_mpi(launcher=False)
    return _run([sys.executable, str(script), *map(str, args)], timeout, env, fail_on_hang)


def _run(command, timeout, env, fail_on_hang):
    """Run `command` in a session of its own; past `timeout`, kill the session and fail (or, with
    fail_on_hang=False, return what it printed with returncode None and .hung = True)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=job_env(env), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        _kill_session(proc.pid)
        out, err = proc.communicate()
        hung = True
    done = subprocess.CompletedProcess(command, None if hung else proc.returncode, out, err)
    done.hung = hung
    if hung and fail_on_hang:
        pytest.fail(f"{' '.join(command)} still running after {timeout} s (the hang guard), killed.\n"
                    f"{output_of(done)}", pytrace=False)
    return done


def _kill_session(sid):
    """SIGKILL every process of session `sid` (the one we started): mpiexec gives its ranks process
    groups of their own, so killing mpiexec's group alone would leave the ranks running."""
    pids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:  # after "pid (name)": state, ppid, pgrp, session
                pids.append(int(entry))
    for kill, pid in [(os.kill, pid) for pid in pids] or [(os.killpg, sid)]:  # no /proc: mpiexec's group
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def output_of(proc, limit=20000):
    """stdout and stderr of a finished job, for failure messages (the last `limit` characters of each)."""
    state = "hung" if getattr(proc, "hung", False) else f"exit status {proc.returncode}"
    return f"[{state}]\n--- stdout ---\n{proc.stdout[-limit:]}\n--- stderr ---\n{proc.stderr[-limit:]}"


# -- named checks: one launch, one test per check ------------------------------------------------
def checks_of(script, group=None):
    """Names of the checks `script` (a worker built on check_harness) runs, in order; only those
    of `group` when given. Read from its CHECKS table without starting MPI."""
    return [name for name, (g, _) in _load(script).CHECKS.items() if group in (None, g)]


@functools.lru_cache(maxsize=None)
def _load(script):
    if WORKERS not in sys.path:
        sys.path.insert(0, WORKERS)
    spec = importlib.util.spec_from_file_location(f"_checks_{os.path.basename(script)[:-3]}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_checks(proc):
    """{check name: [(status, message) for each rank]} from the CHECK lines of a job's stdout."""
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith(CHECK_TAG):
            try:
                item = json.loads(line[len(CHECK_TAG):])
            except ValueError:
                continue
            results[item["name"]] = [tuple(r) for r in item["ranks"]]
    return results


def assert_check(proc, results, name, ranks):
    """Fail unless check `name` passed on all `ranks` ranks (skip if every rank skipped it)."""
    got = results.get(name)
    if got is None:
        where = "hung" if getattr(proc, "hung", False) else "ended"
        reported = "\n".join(f"  {n}: {' '.join(s for s, _ in r)}" for n, r in results.items())
        shown = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stderr, proc.stderr)
        shown.stdout = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(CHECK_TAG))
        shown.hung = getattr(proc, "hung", False)
        pytest.fail(f"no result for check {name!r}: the job {where} first (in this check, or in the first "
                    f"check that did not report)\nchecks that reported:\n{reported}\n{output_of(shown)}",
                    pytrace=False)
    assert len(got) == ranks, got
    if all(status == "skip" for status, _ in got):
        pytest.skip(got[0][1])
    failed = [f"rank {r}: {msg}" for r, (status, msg) in enumerate(got) if status != "pass"]
    if failed:
        pytest.fail(f"check {name!r} failed\n" + "\n".join(failed), pytrace=False)
