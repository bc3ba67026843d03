"""A failing rank ends the whole MPI job: no healthy rank is left blocked in a collective.

Each test starts workers/fault_cases.py with mpiexec -n 2 (or as a plain process for a world of
one); run_mpi's hang guard fails the test if the job does not end. Skipped without mpiexec or
mpi4py (failed under EMBER_REQUIRE_MPI=1).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from mpi_launch import output_of, run_mpi, run_python, worker  # noqa: E402

SCRIPT = worker("fault_cases.py")


def fails(case, *needles):
    """Run `case` on 2 ranks: it must end non-zero, printing every string of `needles`."""
    proc = run_mpi(SCRIPT, case)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, output_of(proc)
    for needle in needles:
        assert needle in text, f"{needle!r} not printed\n{output_of(proc)}"
    return proc


def test_rank_raising_while_the_other_waits_ends_the_job():
    fails("raise_while_other_waits", "boom from rank 1", "[rank 1]", "ValueError")


def test_crashed_rank_ends_the_job():
    fails("crash")


def test_rank_0_raising_before_any_collective_ends_the_job():
    fails("raise_before_any_collective", "rank 0 fails before any collective", "[rank 0]")


def test_abort_ends_the_job_with_its_code():
    proc = fails("abort")
    assert proc.returncode == 5, output_of(proc)


def test_uncaught_error_on_the_source_rank_only_ends_the_job():
    fails("uncaught_one_sided_error", "[rank 0]", "scatter_object_list")


def test_healthy_job_exits_zero():
    proc = run_mpi(SCRIPT, "clean")
    assert proc.returncode == 0, output_of(proc)
    assert "rank 0 sum 1.0" in proc.stdout and "rank 1 sum 1.0" in proc.stdout, output_of(proc)


def test_uncaught_error_in_a_world_of_one_exits_non_zero():
    proc = run_python(SCRIPT, "raise_in_world_of_one")
    assert proc.returncode == 1, output_of(proc)
    assert "[rank 0]" in proc.stderr and "boom from a world of one" in proc.stderr, output_of(proc)
