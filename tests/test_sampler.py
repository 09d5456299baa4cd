"""EpochSampler: the counted epoch length is what iteration yields, for any rank layout."""

from __future__ import annotations

import pytest

from mambano_core.training.sampler import EpochSampler


@pytest.mark.parametrize("size, batch, world", [(16, 8, 1), (17, 8, 1), (17, 4, 3), (5, 8, 2), (10, 3, 4)])
def test_batches_per_epoch_matches_the_yielded_indices(size: int, batch: int, world: int) -> None:
    for rank in range(world):
        sampler = EpochSampler(size, seed=3, batch_size=batch, rank=rank, world_size=world)
        yielded = list(sampler)
        assert sampler.samples_per_epoch() == len(yielded) == len(sampler)
        assert sampler.batches_per_epoch() == -(-len(yielded) // batch)
        for start in range(sampler.batches_per_epoch() + 1):  # resumed mid-epoch, and past the end
            sampler.set_position(epoch=2, start_batch=start)
            assert len(sampler) == len(list(sampler))
