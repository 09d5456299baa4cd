"""Deterministic per-epoch shuffling that can start mid-epoch (exact resume) and shard by rank."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def epoch_permutation(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch ``epoch``: a function of (seed, epoch) only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(size, generator=generator)


class EpochSampler(Sampler[int]):
    """Yields epoch ``epoch``'s permutation from batch ``start_batch`` on.

    ``rank``/``world_size`` take every ``world_size``-th index (for distributed training),
    after padding the permutation so that every rank sees the same number of samples.
    """

    def __init__(
        self, size: int, seed: int, batch_size: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and the first batch to yield."""
        self.epoch, self.start_batch = epoch, start_batch

    def _indices(self) -> list[int]:
        order = epoch_permutation(self.size, self.seed, self.epoch).tolist()
        if self.world_size > 1:
            padded = self.samples_per_epoch() * self.world_size
            order = (order + order[: padded - self.size])[self.rank :: self.world_size]
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.start_batch * self.batch_size :])

    def __len__(self) -> int:
        return max(0, self.samples_per_epoch() - self.start_batch * self.batch_size)

    def samples_per_epoch(self) -> int:
        """Samples this rank sees in a whole epoch (the padded permutation's share)."""
        return -(-self.size // self.world_size)

    def batches_per_epoch(self) -> int:
        """Number of batches in a whole epoch (last partial batch included)."""
        return -(-self.samples_per_epoch() // self.batch_size)
