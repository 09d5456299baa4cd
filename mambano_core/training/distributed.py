"""Training on several processes with torch.distributed (DDP): the rank context and the few
collectives the trainer needs.

A job is started by ``torchrun`` (or ``mambano train --nproc N``, :mod:`.launch`), which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. Without them the
context is a single process and nothing here communicates. The backend is gloo on the CPU and
nccl on CUDA. Every collective waits at most ``training.dist_timeout_s`` seconds for the other
ranks: a rank that dies makes the others fail instead of hanging.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mambano_core.errors import SpecError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether the job has more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that writes files and draws progress."""
        return self.rank == 0


def context_from_environment() -> DistContext:
    """The rank layout ``torchrun`` (or the ``--nproc`` launcher) put in the environment."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise SpecError(f"malformed torch.distributed environment: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise SpecError(f"malformed torch.distributed environment: RANK={rank}, WORLD_SIZE={world}")
    return DistContext(rank, world, local)


def device_for(ctx: DistContext, device: torch.device) -> torch.device:
    """One device per local rank: ``cuda:LOCAL_RANK`` when the spec's device is CUDA."""
    if ctx.enabled and device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise SpecError(f"local rank {ctx.local_rank} has no GPU ({torch.cuda.device_count()} visible)")
        return torch.device("cuda", ctx.local_rank)
    return device


def init_process_group(ctx: DistContext, device: torch.device, timeout_s: float) -> None:
    """Join the job's process group (gloo on the CPU, nccl on CUDA), once per process."""
    import torch.distributed as dist

    if not ctx.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))


def destroy_process_group() -> None:
    """Leave the process group, if one was joined."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def agree(ctx: DistContext, *flags: bool) -> tuple[bool, ...]:
    """Each flag true on any rank is true on every rank (decisions that must not diverge)."""
    if not ctx.enabled:
        return tuple(flags)
    import torch.distributed as dist

    values = torch.tensor([float(f) for f in flags], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in values.cpu())


def mean_over_ranks(ctx: DistContext, value: float) -> float:
    """The average of ``value`` over the ranks."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def gather_objects(ctx: DistContext, value: Any) -> list[Any]:
    """``value`` of every rank, in rank order (on every rank)."""
    if not ctx.enabled:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def gather_errors(ctx: DistContext, errors: torch.Tensor) -> torch.Tensor:
    """Per-sample errors of contiguous shards, concatenated in rank order (the unsharded order)."""
    if not ctx.enabled:
        return errors
    return torch.cat([torch.as_tensor(part) for part in gather_objects(ctx, errors.cpu())])


def shard(count: int, ctx: DistContext) -> range:
    """This rank's contiguous block of ``range(count)`` (blocks differ in length by at most one)."""
    base, extra = divmod(count, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return range(start, start + base + (ctx.rank < extra))


def average_batchnorm_statistics(ctx: DistContext, layers: list[nn.Module], batches: int) -> int:
    """Make the recalibrated running statistics of every rank the average over all ranks' batches.

    Each rank averaged its own ``batches`` batches (momentum None); the job's statistics are the
    batch-count-weighted average of the ranks'. Returns the job's batch count.
    """
    if not ctx.enabled:
        return batches
    import torch.distributed as dist

    total = torch.tensor([float(batches)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(total)
    for layer in layers:
        for name in ("running_mean", "running_var"):
            buffer = getattr(layer, name)
            weighted = buffer.detach().double() * batches
            dist.all_reduce(weighted)
            buffer.copy_((weighted / total.to(weighted.device)).to(buffer.dtype))
        layer.num_batches_tracked.fill_(int(total.item()))
    return int(total.item())


def _collective_device() -> torch.device:
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """The module the training steps call: ``model`` itself, or DDP around it (parameters
    broadcast from rank 0, gradients averaged over the ranks)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if sync_batchnorm:
        if device.type != "cuda":
            raise SpecError("training.sync_batchnorm needs CUDA devices (SyncBatchNorm has no CPU implementation)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
