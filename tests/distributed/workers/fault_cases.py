"""Jobs in which a rank fails, for test_faults.py: `mpiexec -n 2 python fault_cases.py CASE`.

The job must end (non-zero) instead of leaving the healthy ranks blocked in a collective forever.
"""
import os
import sys

import ember
import ember.distributed as dist


def waits():
    """What a healthy rank does meanwhile: a collective that can only finish with the failed rank."""
    t = ember.ones(3)
    dist.all_reduce(t)
    dist.barrier()


def raise_while_other_waits(rank):
    if rank == 1:
        raise ValueError("boom from rank 1")
    waits()


def crash(rank):
    dist.all_reduce(ember.ones(3))  # one good step first
    if rank == 1:
        sys.stdout.flush()
        os._exit(3)  # a crash: no exception, no MPI_Finalize
    waits()


def raise_before_any_collective(rank):
    if rank == 0:
        raise RuntimeError("rank 0 fails before any collective")
    waits()


def abort(rank):
    if rank == 0:
        dist.abort(5)
    waits()


def uncaught_one_sided_error(rank):
    """Only the source's arguments are wrong; uncaught, the error still ends the whole job."""
    dist.scatter_object_list([None], [1, 2, 3] if rank == 0 else None, src=0)
    waits()


def clean(rank):
    t = ember.tensor([float(rank)])
    dist.all_reduce(t)
    print(f"rank {rank} sum {t.item()}", flush=True)


def raise_in_world_of_one(rank):
    raise ValueError("boom from a world of one")


CASES = {f.__name__: f for f in (raise_while_other_waits, crash, raise_before_any_collective, abort,
                                 uncaught_one_sided_error, clean, raise_in_world_of_one)}

if __name__ == "__main__":
    dist.init_process_group("mpi")
    CASES[sys.argv[1]](dist.get_rank())
    dist.destroy_process_group()
