"""ember.distributed: data-parallel training over MPI, with PyTorch's torch.distributed API.

    mpiexec -n 4 python train.py      # in train.py: dist.init_process_group("mpi")

See docs/distributed.md for launching across hosts and what to expect of scaling.
"""
from .collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce,
                          barrier, broadcast, broadcast_object_list, gather, gather_object, irecv, isend, recv,
                          reduce, reduce_scatter, reduce_scatter_tensor, scatter, scatter_object_list, send)
from .process_group import (Backend, ProcessGroup, abort, destroy_process_group, get_backend, get_rank,
                            get_world_size, init_process_group, is_available, is_initialized, is_mpi_available,
                            launched_by_mpi, local_world_size)

__all__ = [
    "Backend", "ProcessGroup", "ReduceOp", "Work", "abort", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object_list", "destroy_process_group",
    "gather", "gather_object", "get_backend", "get_rank", "get_world_size", "init_process_group", "irecv",
    "is_available", "is_initialized", "is_mpi_available", "isend", "launched_by_mpi", "local_world_size", "recv",
    "reduce", "reduce_scatter", "reduce_scatter_tensor", "scatter", "scatter_object_list", "send",
]
