"""An endless, seekable stream of (index, seed) training samples.

The whole data order of a run is a pure function of (n, base_seed, global position), so a
run resumed after consuming `start` samples continues with exactly the samples it would
have seen, without replaying the first `start`.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64's finaliser: a bijection on 64-bit integers with good avalanche."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def sample_seed(base_seed: int, position: int) -> int:
    """The seed of the sample at global `position` of a run seeded with `base_seed`.

    A bijection in `position` for a fixed `base_seed`, so no two samples of a run share a
    seed (before 2**64 samples).
    """
    return _splitmix64((_splitmix64(base_seed & _MASK64) + position) & _MASK64)


def epoch_permutation(n: int, base_seed: int, epoch: int) -> list[int]:
    """The order of the n indices in `epoch`: torch.randperm seeded with base_seed + epoch."""
    generator = torch.Generator().manual_seed(base_seed + epoch)
    return torch.randperm(n, generator=generator).tolist()


class SampleStream(Sampler):
    """Yields ``(index, seed)`` for global positions start, start+1, ... forever or `length` times.

    Position p belongs to epoch ``p // n``, whose order is `epoch_permutation`; its seed is
    ``sample_seed(base_seed, p)``. Seeking to `start` costs one permutation, not a replay.

    With ``world_size > 1`` each rank takes every world_size-th position (rank r gets
    start + r, start + r + world_size, ...), so the ranks together consume the global
    stream; `start` then counts samples consumed by all ranks, and `length` is per rank.

    A DataLoader prefetches ahead of training, so the trainer must count consumed samples
    itself and build a new stream with that `start` when it resumes. Every iteration of
    this object starts again at `start`: it is a description, not a cursor.
    """

    def __init__(
        self,
        n: int,
        *,
        base_seed: int = 0,
        start: int = 0,
        length: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if n <= 0:
            raise ValueError(f"SampleStream needs at least one item, got n={n}.")
        if start < 0 or (length is not None and length < 0):
            raise ValueError(f"start ({start}) and length ({length}) must not be negative.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, world_size={world_size}).")
        self.n = n
        self.base_seed = base_seed
        self.start = start
        self.length = length
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("An endless SampleStream has no length; pass length= to bound it.")
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start + self.rank
        cached_epoch, order = -1, []
        count = 0
        while self.length is None or count < self.length:
            epoch, offset = divmod(position, self.n)
            if epoch != cached_epoch:
                cached_epoch, order = epoch, epoch_permutation(self.n, self.base_seed, epoch)
            yield order[offset], sample_seed(self.base_seed, position)
            position += self.world_size
            count += 1

    def item_at(self, position: int) -> tuple[int, int]:
        """The (index, seed) pair at global `position` (costs one permutation)."""
        epoch, offset = divmod(position, self.n)
        return epoch_permutation(self.n, self.base_seed, epoch)[offset], sample_seed(
            self.base_seed, position
        )
