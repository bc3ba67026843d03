"""ember.distributed: data-parallel training over MPI, with PyTorch's torch.distributed API.

    mpiexec -n 4 python train.py      # in train.py: dist.init_process_group("mpi")

See docs/distributed.md for launching across hosts and what to expect of scaling.
"""
from .collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce,
                          all_to_all, all_to_all_single, barrier, broadcast, broadcast_object_list, gather,
                          gather_object, irecv, isend, monitored_barrier, recv, reduce, reduce_scatter,
                          reduce_scatter_tensor, scatter, scatter_object_list, send)
from .process_group import (Backend, GroupMember, ProcessGroup, abort, destroy_process_group, get_backend,
                            get_global_rank, get_group_rank, get_node_local_rank, get_process_group_ranks, get_rank,
                            get_world_size, init_process_group, is_available, is_backend_available, is_gloo_available,
                            is_initialized, is_mpi_available, is_nccl_available, is_torchelastic_launched,
                            launched_by_mpi, local_world_size, new_group, threads_per_rank)

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "ReduceOp", "Work", "abort", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "all_reduce", "all_to_all", "all_to_all_single", "barrier", "broadcast",
    "broadcast_object_list", "destroy_process_group", "gather", "gather_object", "get_backend", "get_global_rank",
    "get_group_rank", "get_node_local_rank", "get_process_group_ranks", "get_rank", "get_world_size",
    "init_process_group", "irecv", "is_available", "is_backend_available", "is_gloo_available", "is_initialized",
    "is_mpi_available", "is_nccl_available", "is_torchelastic_launched", "isend", "launched_by_mpi",
    "local_world_size", "monitored_barrier", "new_group", "recv", "reduce", "reduce_scatter",
    "reduce_scatter_tensor", "scatter", "scatter_object_list", "send", "threads_per_rank",
]
