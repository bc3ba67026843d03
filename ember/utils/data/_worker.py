"""What runs inside a DataLoader worker process: fetching samples, seeding, and the
loop that answers (task index, sampler indices) requests with pickled batches."""
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

from ..._creation import manual_seed

# How often (seconds) a waiting worker checks that its parent is still alive.
_STATUS_CHECK_INTERVAL = 1.0

_worker_info = None


class WorkerInfo:
    """Facts about the current worker: id, num_workers, seed, dataset (its own copy)."""

    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs)
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")
        return super().__setattr__(key, val)

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)}" for k in self.__keys)
        return f"{self.__class__.__name__}({fields})"


def get_worker_info():
    """The WorkerInfo of the current DataLoader worker process, or None in the main process."""
    return _worker_info


class _KeyErrorMessage(str):
    """KeyError shows repr(message); this keeps the multi-line traceback readable."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as its type and
    formatted traceback, and raised again there."""

    def __init__(self, exc_info=None, where="in background"):
        exc_type, exc, tb = exc_info or sys.exc_info()
        self.exc_name = exc_type.__name__
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where
        try:  # a class defined inside a function cannot cross the process boundary
            pickle.dumps(exc_type)  # classes pickle by reference: a local class fails here
            self.exc_type = exc_type
        except Exception:
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # exception types whose constructor wants other arguments
            exc = RuntimeError(msg)
        try:
            raise exc
        finally:
            del exc  # the traceback holds this frame: don't let the frame hold the exception


class _IterableDatasetStopIteration:
    """A worker's reply once its copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of a new epoch; echoed back."""


class _MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self._getitems = getattr(dataset, "__getitems__", None)

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if callable(self._getitems):
            data = self._getitems(index)
        else:
            data = [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableFetcher:
    """Takes len(index) samples from the dataset's iterator (one if not batching);
    raises StopIteration when nothing (or, with drop_last, too little) is left."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.iterator = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        data = []
        for _ in index:
            try:
                data.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def _seed_worker(base_seed, worker_id):
    """Each worker gets its own reproducible streams: ember's, Python's and NumPy's."""
    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _pickled_reply(idx, data, worker_id):
    # Pickle here rather than in the queue's feeder thread: a batch that cannot be pickled
    # then becomes an error in the main process instead of a reply that never arrives.
    try:
        return pickle.dumps((idx, data), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        wrapped = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        return pickle.dumps((idx, wrapped), protocol=pickle.HIGHEST_PROTOCOL)


def _worker_loop(fetcher_cls, dataset, index_queue, result_queue, done_event, auto_collation, collate_fn,
                 drop_last, base_seed, init_fn, worker_id, num_workers):
    global _worker_info
    interrupted = False
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        where = f"in DataLoader worker process {worker_id}"

        def make_fetcher():
            return fetcher_cls(dataset, auto_collation, collate_fn, drop_last)

        init_error = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher()
        except Exception:
            init_error = ExceptionWrapper(where=where)

        parent = os.getppid()
        iteration_end = False
        while os.getppid() == parent:  # a worker whose parent died exits by itself
            try:
                task = index_queue.get(timeout=_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done_event.is_set():
                    break  # shutdown, even if its message to this worker was lost
                continue
            if task is None:  # shutdown
                break
            if isinstance(task, _ResumeIteration):  # new epoch for a persistent worker
                iteration_end = False
                if init_error is None and fetcher_cls is _IterableFetcher:
                    try:
                        fetcher = make_fetcher()
                    except Exception:
                        init_error = ExceptionWrapper(where=where)
                result_queue.put(_pickled_reply(task, None, worker_id))
                continue
            if done_event.is_set() or iteration_end:
                continue  # the main process no longer wants these results
            idx, index = task
            if init_error is not None:
                data = init_error
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if fetcher_cls is not _IterableFetcher:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            result_queue.put(_pickled_reply(idx, data, worker_id))
            del data, task, idx, index  # free the batch while waiting for the next task
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C reaches the whole process group; the main process handles it
    if interrupted or done_event.is_set():
        # The main process may stop reading; don't block exit on flushing the pipe.
        result_queue.cancel_join_thread()
        result_queue.close()
