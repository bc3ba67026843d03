"""Samplers: the order in which a DataLoader visits dataset indices.

Random samplers draw from an ember.Generator (`gen.np` is a NumPy Generator). Without
one, each pass draws a fresh seed from ember.default_generator, so ember.manual_seed
makes runs reproducible without tying the sampler to other users of the default stream.
"""
import numpy as np

from ..._creation import default_generator
from ..._tensor import Tensor


def _pass_rng(generator):
    if generator is not None:
        return generator.np
    return np.random.Generator(np.random.PCG64(int(default_generator.np.integers(0, 1 << 63))))


def _check_num_samples(num_samples, allow_bool=True):
    # PyTorch's RandomSampler takes num_samples=True (as 1); WeightedRandomSampler does not
    if (not allow_bool and isinstance(num_samples, bool)) or not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")


class Sampler:
    """Base class: __iter__ yields indices (or batches of them); __len__ is optional."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation (repeated and cut to num_samples), or num_samples draws with
    replacement."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        _check_num_samples(self.num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = _pass_rng(self.generator)
        if self.replacement:
            left = self.num_samples
            while left > 0:  # lazily, in chunks, so a huge num_samples costs no memory up front
                chunk = min(left, 32)
                yield from rng.integers(0, n, size=chunk).tolist()
                left -= chunk
        else:
            for _ in range(self.num_samples // n):
                yield from rng.permutation(n).tolist()
            yield from rng.permutation(n).tolist()[: self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in _pass_rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices in [0, len(weights)) drawn with probability proportional to
    weights (weights need not sum to 1)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _check_num_samples(num_samples, allow_bool=False)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights._data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = Tensor._make(w)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        w = self.weights._data
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
        if w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not self.replacement and self.num_samples > w.size:
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        rng = _pass_rng(self.generator)
        if self.replacement:
            cdf = np.cumsum(w)
            u = rng.random(self.num_samples) * cdf[-1]
            idx = np.minimum(np.searchsorted(cdf, u, side="right"), w.size - 1)
        else:
            # exponential-race keys: smaller key = drawn earlier; zero weights come last
            with np.errstate(divide="ignore"):
                keys = rng.exponential(size=w.size) / w
            idx = np.argsort(keys, kind="stable")[: self.num_samples]
        return iter(idx.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of batch_size (the last may be short
    unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
