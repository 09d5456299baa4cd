"""Shared pieces of the model tests: a seeded one-thread fixture, a smooth batch, relative L1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread() -> Iterator[None]:
    """Seed, and use one thread: these small models only lose time to thread contention."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _batch(size: int = 16, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed smooth input (two channels) and a target that depends on it."""
    g = torch.Generator().manual_seed(1)
    coeffs = torch.randn(batch, 2, 3, 3, generator=g)
    t = torch.arange(size) / size
    modes = torch.stack([torch.sin(torch.pi * (k + 1) * t) for k in range(3)])  # (3, size)
    x = torch.einsum("bcij,ih,jw->bchw", coeffs, modes, modes)
    y = torch.stack([x[:, 0] * x[:, 1], x[:, 0].roll(1, -1) - x[:, 1], x.sum(1) ** 2], dim=1)
    return x, y


def _rel_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().sum() / target.abs().sum()
