"""new_group, group-rank queries, all_to_all(_single) and monitored_barrier on 3 ranks
(workers/group_checks.py), one test per check; and their signatures against torch.distributed."""
import inspect
import os
import sys

import pytest
import torch.distributed as tdist

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from mpi_launch import assert_check, checks_of, output_of, parse_checks, run_mpi, worker  # noqa: E402

import ember.distributed as dist  # noqa: E402

SCRIPT = worker("group_checks.py")
NAMES = checks_of(SCRIPT)
RANKS = 3


@pytest.fixture(scope="module")
def job():
    proc = run_mpi(SCRIPT, n=RANKS, fail_on_hang=False)
    return proc, parse_checks(proc)


@pytest.mark.parametrize("name", NAMES)
def test_check(job, name):
    proc, results = job
    assert_check(proc, results, name, RANKS)


def test_job_ran_every_check(job):
    proc, results = job
    assert proc.returncode == 0 and "ALL CHECKS RAN" in proc.stdout, output_of(proc)
    assert list(results) == NAMES


@pytest.mark.parametrize("name", ["new_group", "all_to_all", "all_to_all_single", "monitored_barrier",
                                  "get_process_group_ranks", "get_global_rank", "get_group_rank",
                                  "get_node_local_rank"])
def test_signature_matches_torch(name):
    mine = list(inspect.signature(getattr(dist, name)).parameters)
    theirs = list(inspect.signature(getattr(tdist, name)).parameters)
    assert mine[:len(theirs)] == theirs or mine == theirs[:len(mine)], (mine, theirs)
