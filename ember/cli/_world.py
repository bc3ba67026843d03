"""`ember train --distributed`: the job's ranks as `ember train` sees them.

World holds this process's rank and the number of ranks, and the three collectives
training needs (sums of metrics, rank 0's values, a share of the evaluation set).
An error on any rank ends the whole job through MPI_Abort, so no rank waits forever.
"""
import sys
import traceback

import numpy as np

import ember

from . import _common
from ._common import CLIError


class World:
    """This process's place in the job: its rank, the number of ranks, and the few collectives
    training needs. World() is a single process; World(ember.distributed) joins mpiexec's ranks."""

    def __init__(self, dist=None):
        self.dist = dist
        self.rank = dist.get_rank() if dist else 0
        self.size = dist.get_world_size() if dist else 1
        self.main = self.rank == 0  # the rank that prints and writes files

    def sum(self, values, dtype):
        """`values` (a number list or array) summed over all ranks, as a NumPy array."""
        t = ember.from_numpy(np.array(values, dtype))
        if self.size > 1:
            self.dist.all_reduce(t)
        return t.numpy()

    def share(self, value):
        """Rank 0's `value` (any picklable object) on every rank."""
        if self.size == 1:
            return value
        box = [value]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def shard(self, n):
        """This rank's contiguous slice of n items."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)


def join_ranks():
    """(World of the ranks mpiexec started, whether this call joined them into the process group)."""
    import ember.distributed as dist

    if not dist.is_available():
        raise CLIError(f"--distributed needs mpi4py and an MPI library; install them with:\n  {_common.MPI_INSTALL}")
    joined = not dist.is_initialized()
    if joined:
        try:
            dist.init_process_group("mpi")
        except (ImportError, OSError, RuntimeError) as e:
            raise CLIError(f"--distributed cannot start MPI: {e}") from None
    return World(dist), joined


def end_job(world, error):
    """Say why this rank failed, then end every rank of the job (MPI_Abort), so that none is
    left waiting forever in a collective for this one."""
    if isinstance(error, CLIError):
        text, code = f"error: {error}", error.code
    elif isinstance(error, KeyboardInterrupt):
        text, code = "interrupted", 130
    else:  # a bug: show where
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        text, code = f"error: {type(error).__name__}: {error}", 1
    print(f"ember train [rank {world.rank}]: {text}", file=sys.stderr, flush=True)
    world.dist.abort(code)


def load_shared_checkpoint(path, world):
    """The checkpoint at `path`, read from disk by rank 0 alone and sent to the other ranks, so
    that a job spread over several hosts needs the file only where rank 0 runs."""
    data = error = None
    if world.main:
        try:
            data = _common.read_checkpoint_bytes(path)
        except CLIError as e:
            error = str(e)
    data, error = world.share((data, error))
    if error is not None:
        raise CLIError(error)
    return _common.load_checkpoint(path, data)
