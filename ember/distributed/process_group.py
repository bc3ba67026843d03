"""The process group: which processes train together, and how a job ends when one fails.

ember's one backend is MPI through mpi4py. `mpiexec -n N python train.py` starts the N
processes; `init_process_group("mpi")` joins them. A rank that dies with an uncaught
exception prints its traceback under a "[rank R]" line and calls MPI_Abort, which ends
every rank of the job with a non-zero status instead of leaving the others blocked in a
collective forever.
"""
import importlib.util
import os
import sys
import traceback

BACKENDS = ("mpi",)
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
_MPI_INSTALL = "apt-get install -y openmpi-bin libopenmpi-dev && pip install mpi4py"
_NOT_INITIALIZED = "Default process group has not been initialized, please make sure to call init_process_group."

_world = None  # the default ProcessGroup, once initialised


class ProcessGroup:
    """A set of ranks that run collectives together: an MPI communicator of its own."""

    def __init__(self, comm, backend="mpi", ranks=None):
        self.comm = comm
        self.backend = backend
        self._rank, self._size = comm.Get_rank(), comm.Get_size()
        self.ranks = list(range(self._size)) if ranks is None else list(ranks)  # their ranks in the world

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def name(self):
        return self.backend.upper()

    def __repr__(self):
        return f"<ember.distributed.ProcessGroup backend={self.backend} rank={self._rank} size={self._size}>"


class Backend(str):
    """Backend names as strings: Backend.MPI == "mpi"."""

    MPI = "mpi"

    def __new__(cls, name):
        return str.__new__(cls, name.lower())


def is_available():
    """True when the MPI backend can be used (mpi4py is installed)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available():
    return is_available()


def is_initialized():
    return _world is not None


def launched_by_mpi():
    """True when this process was started by an MPI launcher (mpiexec, mpirun, srun)."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _mpi():
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as e:  # no mpi4py, or no MPI library for it to load
        raise RuntimeError(f"ember.distributed's MPI backend needs mpi4py and an MPI library ({e}); install them "
                           f"with: {_MPI_INSTALL}") from None
    return MPI


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the processes of this job (started by mpiexec) into the default process group.

    backend is "mpi" or "auto" (or None, the same): both use MPI. Without a launcher the
    process is a world of one. world_size and rank, when given, must agree with MPI's.
    MPI has no collective timeouts: `timeout` is accepted for compatibility, and a rank
    that dies ends the whole job through MPI_Abort instead.
    """
    global _world
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "auto" if backend is None else str(backend).lower()
    if name not in BACKENDS + ("auto",):
        raise ValueError(f"ember.distributed has no {backend!r} backend: it runs on MPI. Use backend='mpi' (or "
                         f"'auto') and start the processes with mpiexec -n N")
    if init_method not in (None, "env://") or store is not None:
        raise ValueError("the MPI backend takes its ranks from mpiexec: init_method and store are not used, "
                         f"got init_method={init_method!r}")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()  # a communicator of our own: user MPI traffic cannot mix with ember's
    group = ProcessGroup(comm, "mpi")
    if world_size not in (-1, None) and world_size != group.size():
        comm.Free()
        raise ValueError(f"world_size={world_size} but mpiexec started {group.size()} processes")
    if rank not in (-1, None) and rank != group.rank():
        comm.Free()
        raise ValueError(f"rank={rank} but MPI gave this process rank {group.rank()}")
    _world = group
    _install_excepthook()
    _share_cores()


def _share_cores():
    """Ranks sharing a host split its cores, unless the user chose (as torchrun does with OMP_NUM_THREADS):
    N ranks each starting a thread per core would fight over the cores."""
    if local_world_size() > 1 and "OMP_NUM_THREADS" not in os.environ:
        from .._threads import set_num_threads

        set_num_threads(threads_per_rank())


def threads_per_rank():
    """Threads for each of this host's ranks: its share of the cores, and no more than the cores
    this process may run on (mpiexec may bind each rank to one core)."""
    cores = os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, min(allowed, cores // local_world_size()))


def destroy_process_group(group=None):
    """Leave the default group (after a barrier, so no rank is still using it)."""
    global _world
    if _world is None:
        raise ValueError(_NOT_INITIALIZED)
    if group is not None and group is not _world:
        raise ValueError("only the default process group can be destroyed")
    _world.comm.Barrier()
    _world.comm.Free()
    _world = None
    _remove_excepthook()


class _NonGroupMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """GroupMember.NON_GROUP_MEMBER: what new_group returns on the ranks it leaves out."""

    NON_GROUP_MEMBER = _NonGroupMember()


class NotInGroup(Exception):
    """A collective called with a group this rank is not in: it does nothing on this rank."""


def _get_group(group=None):
    if group is None or group is _world:
        if _world is None:
            raise ValueError(_NOT_INITIALIZED)
        return _world
    if group is GroupMember.NON_GROUP_MEMBER:
        raise NotInGroup()
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup or None, got {type(group).__name__}")
    return group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None, sort_ranks=True):
    """A group of some of the world's ranks (all of them when None). Every rank of the world
    must call it; the ranks left out get GroupMember.NON_GROUP_MEMBER."""
    world = _get_group(None)
    members = list(range(world.size())) if ranks is None else [int(r) for r in ranks]
    if sort_ranks:
        members = sorted(members)
    if len(set(members)) != len(members):
        raise ValueError(f"new_group: ranks {members} has duplicates")
    bad = [r for r in members if not 0 <= r < world.size()]
    if bad:
        raise ValueError(f"new_group: ranks {bad} are not in the world of {world.size()} ranks")
    MPI = _mpi()
    mpi_group = world.comm.Get_group().Incl(members)
    comm = world.comm.Create(mpi_group)
    mpi_group.Free()
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(comm, world.backend, members)


def get_rank(group=None):
    """This process's rank in `group` (-1 when it is not a member)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _get_group(group).rank()


def get_world_size(group=None):
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _get_group(group).size()


def get_process_group_ranks(group):
    """The world ranks of `group`'s members, in group-rank order."""
    return list(_get_group(group).ranks)


def get_global_rank(group, group_rank):
    ranks = _get_group(group).ranks
    if not 0 <= group_rank < len(ranks):
        raise ValueError(f"group rank {group_rank} is not part of the group of {len(ranks)} ranks")
    return ranks[group_rank]


def get_group_rank(group, global_rank):
    ranks = _get_group(group).ranks
    if global_rank not in ranks:
        raise ValueError(f"global rank {global_rank} is not part of the group")
    return ranks.index(global_rank)


def get_node_local_rank(fallback_rank=None):
    """This process's rank among the ranks on its host (from the launcher)."""
    for var in ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("the launcher did not say this process's local rank (OMPI_COMM_WORLD_LOCAL_RANK or "
                       "LOCAL_RANK), and no fallback_rank was given")


def is_backend_available(backend):
    return str(backend).lower() == "mpi" and is_available()


def is_gloo_available():
    return False


def is_nccl_available():
    return False


def is_torchelastic_launched():
    return False


def get_backend(group=None):
    return Backend(_get_group(group).backend)


def local_world_size():
    """Ranks on this host (from the launcher; 1 when unknown): for sharing out CPU threads."""
    for var in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_LOCAL_SIZE"):
        if os.environ.get(var, "").isdigit():
            return max(1, int(os.environ[var]))
    return 1


# -- ending the job when a rank fails ------------------------------------------------------------
_previous_hook = None


def abort(code=1):
    """End every rank of the job now with exit status `code` (MPI_Abort); a world of one just exits."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _world is not None and _world.size() > 1:
        _mpi().COMM_WORLD.Abort(code)
    os._exit(code)


def _excepthook(etype, value, tb):
    rank = _world.rank() if _world is not None else "?"
    text = "".join(traceback.format_exception(etype, value, tb))
    sys.stderr.write(f"[rank {rank}] uncaught {etype.__name__}: ending the job\n{text}")
    if _world is None or _world.size() == 1:
        return
    abort(1)


def _install_excepthook():
    global _previous_hook
    if sys.excepthook is not _excepthook:
        _previous_hook, sys.excepthook = sys.excepthook, _excepthook


def _remove_excepthook():
    global _previous_hook
    if sys.excepthook is _excepthook:
        sys.excepthook, _previous_hook = _previous_hook or sys.__excepthook__, None
