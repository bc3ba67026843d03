"""ember.distributed's collectives against their NumPy definitions, on real MPI jobs.

workers/collective_checks.py runs every check on every rank of one job; this file starts that job
once per world size (a plain process for a world of one, mpiexec -n 2 and -n 3) and turns each
check into a test of its own. The ReduceOp and signature tests compare with torch.distributed in
this process and need no MPI. MPI jobs are skipped without mpiexec or mpi4py (failed under
EMBER_REQUIRE_MPI=1); their timeouts are hang guards only.
"""
import inspect
import os
import sys

import pytest
import torch.distributed as tdist

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from mpi_launch import assert_check, checks_of, output_of, parse_checks, run_mpi, run_python, worker  # noqa: E402

import ember  # noqa: E402
import ember.distributed as dist  # noqa: E402

SCRIPT = worker("collective_checks.py")
MAIN = checks_of(SCRIPT, "before_init") + checks_of(SCRIPT, "main")
HAZARDS = checks_of(SCRIPT, "hazards")


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda n: f"world{n}")
def job(request, tmp_path_factory):
    """(ranks, the finished job, its results by check) for one launch of the "main" checks."""
    n, tmp = request.param, tmp_path_factory.mktemp(f"world{request.param}")
    if n == 1:
        proc = run_python(SCRIPT, "main", "python", tmp, fail_on_hang=False)
    else:
        proc = run_mpi(SCRIPT, "main", "mpiexec", tmp, n=n, fail_on_hang=False)
    return n, proc, parse_checks(proc)


@pytest.mark.parametrize("name", MAIN)
def test_check(job, name):
    n, proc, results = job
    assert_check(proc, results, name, n)


def test_job_ran_every_check_and_exited_cleanly(job):
    n, proc, results = job
    assert proc.returncode == 0 and "ALL CHECKS RAN" in proc.stdout, output_of(proc)
    assert list(results) == MAIN


@pytest.fixture(scope="module")
def hazards(tmp_path_factory):
    """The checks that deadlock when ember gets them wrong: a 2-rank job of their own, with a
    shorter hang guard (the job takes about a second)."""
    proc = run_mpi(SCRIPT, "hazards", "mpiexec", tmp_path_factory.mktemp("hazards"), n=2, timeout=60,
                   fail_on_hang=False)
    return proc, parse_checks(proc)


@pytest.mark.parametrize("name", HAZARDS)
def test_hazard(hazards, name):
    proc, results = hazards
    assert_check(proc, results, name, 2)


# -- the API mirrors torch.distributed (no MPI needed) --------------------------------------------------
def test_reduce_op_names_and_values_match_torch():
    ours = dist.ReduceOp.RedOpType.__members__
    theirs = {name: int(v) for name, v in tdist.ReduceOp.RedOpType.__members__.items() if name != "PREMUL_SUM"}
    assert {name: int(v) for name, v in ours.items()} == theirs
    for name, value in theirs.items():
        op = getattr(dist.ReduceOp, name)
        assert int(op) == int(getattr(tdist.ReduceOp, name)) == value
        assert op.name == name and op == getattr(dist.ReduceOp.RedOpType, name)


def _plain(default):
    return default if default is None or isinstance(default, (bool, int, str)) else type(default).__name__


@pytest.mark.parametrize("name", [n for n in dist.__all__ if inspect.isfunction(getattr(dist, n))
                                  and inspect.isfunction(getattr(tdist, n, None))])
def test_signature_matches_torch(name):
    ours = inspect.signature(getattr(dist, name)).parameters
    theirs = {k: p for k, p in inspect.signature(getattr(tdist, name)).parameters.items() if not k.startswith("_")}
    assert list(ours) == list(theirs)
    for key, p in theirs.items():
        d_ours, d_theirs = ours[key].default, p.default
        if d_theirs is inspect.Parameter.empty:
            assert d_ours is inspect.Parameter.empty, key
        elif key == "op":
            assert int(d_ours) == int(d_theirs)
        else:
            assert _plain(d_ours) == _plain(d_theirs), key


def test_errors_before_init_without_mpi():
    """In this process (never initialised): what needs a group says so, and unknown backends are refused."""
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.get_backend, dist.barrier, dist.destroy_process_group):
        with pytest.raises(ValueError, match="init_process_group"):
            fn()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(ember.ones(2))
    with pytest.raises(ValueError, match="nccl"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    assert dist.Backend("MPI") == dist.Backend.MPI == "mpi"
