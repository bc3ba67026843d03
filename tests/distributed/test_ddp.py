"""ember.nn.parallel.DistributedDataParallel on real MPI jobs of two ranks (and a world of one).

Each worker in workers/ddp_*.py runs many checks in one launch, every rank comparing DDP with a
single-process reference it computes itself (the same seeds, the global batch); this file starts
each worker once and turns each of its checks into a test. The MPI jobs are skipped without
mpiexec or mpi4py (failed under EMBER_REQUIRE_MPI=1); their timeouts are hang guards only.

    ddp_training.py  training equals the reference (SGD with momentum, Adam; bucket sizes,
                     gradient_as_bucket_view), rank 0's weights at construction, averaged grads,
                     buckets launched during backward, no_sync, state_dict and repr
    ddp_features.py  BatchNorm buffers with and without broadcast_buffers, no_grad forwards,
                     forward arguments, different models on the ranks
    ddp_unused.py    find_unused_parameters: branches skipped on one rank, on all, on some steps
    ddp_single.py    a plain process (a world of one) and the constructor's errors
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from mpi_launch import assert_check, checks_of, output_of, parse_checks, run_mpi, run_python, worker  # noqa: E402

JOBS = ("training", "features", "unused", "single")
SCRIPTS = {job: worker(f"ddp_{job}.py") for job in JOBS}
NAMES = {job: checks_of(script) for job, script in SCRIPTS.items()}
# Open MPI's TCP transport alone, as between hosts (on one host it would use shared memory)
OVER_TCP = {"OMPI_MCA_btl": "tcp,self"}


def launch(job, ranks, env=None):
    """(ranks, the finished job, its results by check); ranks=1 runs a plain process."""
    script = SCRIPTS[job]
    if ranks == 1:
        proc = run_python(script, env=env, fail_on_hang=False)
    else:
        proc = run_mpi(script, n=ranks, env=env, fail_on_hang=False)
    return ranks, proc, parse_checks(proc)


@pytest.fixture(scope="module")
def training():
    return launch("training", 2)


@pytest.fixture(scope="module")
def training_over_tcp():
    return launch("training", 2, OVER_TCP)


@pytest.fixture(scope="module")
def features():
    return launch("features", 2)


@pytest.fixture(scope="module")
def unused():
    return launch("unused", 2)


@pytest.fixture(scope="module")
def single():
    return launch("single", 1)


@pytest.mark.parametrize("name", NAMES["training"])
def test_training(training, name):
    assert_check(training[1], training[2], name, training[0])


@pytest.mark.parametrize("name", NAMES["training"])
def test_training_over_tcp(training_over_tcp, name):
    assert_check(training_over_tcp[1], training_over_tcp[2], name, training_over_tcp[0])


@pytest.mark.parametrize("name", NAMES["features"])
def test_features(features, name):
    assert_check(features[1], features[2], name, features[0])


@pytest.mark.parametrize("name", NAMES["unused"])
def test_unused_parameters(unused, name):
    assert_check(unused[1], unused[2], name, unused[0])


@pytest.mark.parametrize("name", NAMES["single"])
def test_world_of_one(single, name):
    assert_check(single[1], single[2], name, single[0])


@pytest.mark.parametrize("job", JOBS)
def test_job_ran_every_check_and_exited_cleanly(request, job):
    ranks, proc, results = request.getfixturevalue(job)
    assert list(results) == NAMES[job], output_of(proc)
    assert proc.returncode == 0, output_of(proc)
