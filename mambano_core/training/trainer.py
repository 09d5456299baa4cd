"""The trainer: AdamW + StepLR on the relative L1 loss, validation each epoch, early stopping,
best/last checkpoints, exact resume (even mid-epoch) and Ctrl-C that checkpoints first.

Protocol of CNO (Raonic et al. 2023) and MambaNO (Zheng et al. 2024): AdamW, StepLR,
batch-pooled relative L1 loss, best-validation model kept.
"""

from __future__ import annotations

import math
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from mambano_core.data.benchmarks import get_benchmark_class
from mambano_core.data.dataset import FieldPairDataset
from mambano_core.data.store import Store
from mambano_core.errors import SpecError, TrainingDiverged, TrainingInterrupted
from mambano_core.losses import relative_l1_loss
from mambano_core.models.registry import build_model, count_parameters, resolved_model_args
from mambano_core.runtime import keep_freed_memory, resolve_device, seed_everything
from mambano_core.scoring import SplitScore, relative_l1_percent
from mambano_core.training.batchnorm import batchnorm_layers, recalibrate_batchnorm, start_output_norm
from mambano_core.training import distributed as dist
from mambano_core.training.checkpoint import read_checkpoint, rng_state, save_checkpoint, set_rng_state
from mambano_core.training.optim_step import optimizer_step
from mambano_core.training.reporter import TrainingReporter
from mambano_core.training.resume import check_resume
from mambano_core.training.run_dir import BEST, LAST, RunDir
from mambano_core.training.sampler import EpochSampler
from mambano_core.training.spec import RunSpec, dump_spec


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint for exact resume."""

    epoch: int = 0
    step_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    global_step: int = 0
    best_val: float = math.inf
    best_epoch: int = -1
    epochs_since_best: int = 0
    elapsed_s: float = 0.0
    stop_reason: str | None = None
    bn_recal_s: float = 0.0  # wall time of the batch-norm recalibrations, summed over epochs
    bn_recal_epochs: int = 0
    output_norm_start: dict[str, list[float]] | None = None  # targets' mean/std it started from


class Trainer:
    """Train one run spec; see :meth:`fit`.

    The run folder (:class:`~mambano_core.training.run_dir.RunDir`) is locked from construction
    until :meth:`fit` returns (or :meth:`close`): a second trainer of the same folder fails with
    :class:`~mambano_core.errors.RunBusyError`.

    Parameters
    ----------
    spec
        The validated run spec.
    reporter
        Receives progress events (the CLI's draws a rich progress bar).
    resume
        Continue from ``<run>/checkpoints/last.pt`` exactly where it stopped.
    overwrite
        Start afresh even if the run directory holds an earlier run.
    step_callback
        Called after every optimiser step with the trainer (tests use it to interrupt).
    context
        This process's place in a distributed job (default: from the environment torchrun
        sets; a single process without it). See :mod:`mambano_core.training.distributed`.
    """

    def __init__(
        self,
        spec: RunSpec,
        reporter: TrainingReporter | None = None,
        resume: bool = False,
        overwrite: bool = False,
        step_callback: Callable[["Trainer"], None] | None = None,
        context: dist.DistContext | None = None,
    ) -> None:
        self.spec = spec
        self.ctx = context or dist.context_from_environment()
        # Rank 0 alone writes files and draws progress; the other ranks are quiet.
        self.reporter = (reporter or TrainingReporter()) if self.ctx.is_main else TrainingReporter()
        self.step_callback = step_callback
        self.stop_requested = False
        self._recal_reported = False
        self.run = RunDir.named(spec.output.runs_dir, spec.run_name)
        self.run_dir, self.ckpt_dir = self.run.path, self.run.checkpoints
        self.device = dist.device_for(self.ctx, resolve_device(spec.training.device))
        self._lock = self.run.acquire() if self.ctx.is_main else None
        try:
            self._build(resume, overwrite)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder's lock and leave the process group (:meth:`fit` does it when it returns)."""
        self.run.release(self._lock)
        dist.destroy_process_group()

    def __del__(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            RunDir.release(lock)

    def _build(self, resume: bool, overwrite: bool) -> None:
        spec = self.spec
        if spec.training.threads:
            torch.set_num_threads(spec.training.threads)
        keep_freed_memory()  # no page-fault storm at every CPU step (mambano_core.memory)
        dist.init_process_group(self.ctx, self.device, spec.training.dist_timeout_s)
        if self.ctx.is_main:
            self._check_run_dir(resume, overwrite)
        dist.barrier(self.ctx)
        if resume and not self.run.last.is_file():
            raise SpecError(f"cannot resume: {self.run.last} does not exist (train without --resume first)")
        seed_everything(spec.training.seed)
        self._setup_data()
        self.warmup_steps = spec.training.warmup_epochs * self.sampler.batches_per_epoch()
        self.model_args = resolved_model_args(spec.model.name, spec.model.args)
        self.model = build_model(spec.model.name, self.model_args).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=spec.training.lr, weight_decay=spec.training.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=spec.training.scheduler_step, gamma=spec.training.scheduler_gamma
        )
        self.state = TrainState()
        self.resume_changes: list[str] = []
        if resume:
            self._load_resume_state()
        elif spec.training.init_output_norm:
            self._start_output_norm()
        self.net = dist.wrap_model(self.model, self.ctx, self.device, spec.training.sync_batchnorm)
        if self.ctx.enabled and not resume:
            # Every rank built the same weights; each draws its own random numbers from here on
            # (DropPath masks of its own samples).
            torch.manual_seed(spec.training.seed * 1_000_003 + 7_919 * self.ctx.rank + 1)

    # ------------------------------------------------------------------ setup
    def _check_run_dir(self, resume: bool, overwrite: bool) -> None:
        if resume:
            if not self.run.last.is_file():
                raise SpecError(f"cannot resume: {self.run.last} does not exist (train without --resume first)")
            return
        if self.run.holds_a_run():
            if not overwrite:
                raise SpecError(
                    f"run directory {self.run_dir} already holds a run; use --resume to continue it, "
                    "--overwrite to start again, or --set output.name=NEW for a new run"
                )
            self.run.clear()

    def _setup_data(self) -> None:
        data = self.spec.data
        store = Store(data.root, data.benchmark)
        manifest = store.manifest()
        self.mask_for_error = get_benchmark_class(data.benchmark).mask_for_error
        self.normalization = store.normalization(data.resolution)
        names = manifest["input_variable"], manifest["output_variable"]
        train_file, val_file = store.split_file("train", data.resolution), store.split_file("val", data.resolution)
        files = manifest.get("files", {})
        self.data_info = {
            "benchmark": data.benchmark,
            "boundary": manifest["boundary"],
            "resolution": data.resolution,
            "input_variable": names[0],
            "output_variable": names[1],
            # The data a run was trained on, checked on resume.
            "train_sha256": files.get(f"train_{data.resolution}", {}).get("sha256"),
            "val_sha256": files.get(f"val_{data.resolution}", {}).get("sha256"),
        }
        self.train_set = FieldPairDataset(train_file, *names, self.normalization, data.n_train, data.resolution)
        self.val_set = FieldPairDataset(val_file, *names, self.normalization, data.n_val, data.resolution)
        batch = self.spec.training.batch_size
        if batch % self.ctx.world_size:
            raise SpecError(f"training.batch_size ({batch}) is the global batch and must be divisible by the "
                            f"{self.ctx.world_size} processes of the job")
        self.sampler = EpochSampler(len(self.train_set), self.spec.training.seed, batch // self.ctx.world_size,
                                    self.ctx.rank, self.ctx.world_size)
        # A private generator keeps DataLoader from drawing on the global RNG (exact resume).
        loader_args = dict(num_workers=data.num_workers, generator=torch.Generator().manual_seed(0))
        self.train_loader = DataLoader(self.train_set, batch_size=self.sampler.batch_size, sampler=self.sampler,
                                       **loader_args)
        # Each rank validates a contiguous block of the validation set; the errors are gathered.
        self.val_loader = DataLoader(Subset(self.val_set, dist.shard(len(self.val_set), self.ctx)),
                                     batch_size=batch, shuffle=False, **loader_args)
        self.recal_loader = self._recalibration_loader(loader_args)

    def _recalibration_loader(self, loader_args: dict[str, Any]) -> DataLoader:
        """The first ``recalibrate_bn_batches`` full training batches (all of them by default), in order.

        In a job of several processes each rank takes an equal block of those batches (a remainder
        of fewer batches than ranks is left out; with fewer batches than ranks every rank takes
        them all), and the statistics are averaged over the ranks.
        """
        batch, wanted = self.spec.training.batch_size, self.spec.training.recalibrate_bn_batches
        n = len(self.train_set) if wanted is None else min(len(self.train_set), wanted * batch)
        # Whole batches only (a batch of one sample has no variance), unless there are none.
        batches = [range(start, min(start + batch, n)) for start in range(0, n, batch)]
        batches = [b for b in batches if len(b) == batch] or batches
        per_rank = len(batches) // self.ctx.world_size
        if per_rank:
            batches = batches[self.ctx.rank * per_rank : (self.ctx.rank + 1) * per_rank]
        indices = [i for b in batches for i in b]
        return DataLoader(Subset(self.train_set, indices), batch_size=batch, shuffle=False, **loader_args)

    def _start_output_norm(self) -> None:
        norm = getattr(self.model, "output_norm", None)
        if norm is None:
            return
        targets = DataLoader(self.train_set, batch_size=self.spec.training.batch_size, shuffle=False,
                             generator=torch.Generator().manual_seed(0))
        mean, std = start_output_norm(norm, (y for _, y in targets))
        self.state.output_norm_start = {"mean": mean.tolist(), "std": std.tolist()}

    def _load_resume_state(self) -> None:
        raw = read_checkpoint(self.run.last)
        self.resume_changes = check_resume(raw, self.spec, self.model_args, self.data_info, self.run.last)
        train = raw.get("train_state") or {}
        if not train:
            raise SpecError(f"{self.run.last} has no training state to resume from")
        self.model.load_state_dict(raw["model_state"])
        self.optimizer.load_state_dict(train["optimizer"])
        self.scheduler.load_state_dict(train["scheduler"])
        self.state = TrainState(**train["state"])
        self.state.stop_reason = None
        saved_world = int(train.get("world_size", 1))
        if saved_world != self.ctx.world_size:
            raise SpecError(
                f"{self.run.last} was written by a job of {saved_world} process(es); resume it with "
                f"{saved_world} (the batches each process draws depend on it), not {self.ctx.world_size}"
            )
        set_rng_state(train["rng_per_rank"][self.ctx.rank] if self.ctx.enabled else train["rng"])

    # ------------------------------------------------------------------ checkpoints
    def _save(self, name: str, with_train_state: bool = True) -> None:
        """Write a checkpoint (rank 0; every rank must call it: the RNG states are gathered)."""
        train_state = None
        if with_train_state:
            rngs = dist.gather_objects(self.ctx, rng_state())
            train_state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "state": asdict(self.state),
                "rng": rngs[0],
                "world_size": self.ctx.world_size,
            }
            if self.ctx.enabled:
                train_state["rng_per_rank"] = rngs
        if not self.ctx.is_main:
            return
        save_checkpoint(
            self.run.checkpoint(name),
            model=self.model,
            model_name=self.spec.model.name,
            model_args=self.model_args,
            spec=self.spec.to_dict(),
            normalization=self.normalization,
            data=self.data_info,
            train_state=train_state,
        )

    # ------------------------------------------------------------------ loops
    def _train_epoch(self, epoch: int) -> Iterator[None]:
        """Run the remaining steps of ``epoch``; yields after each step."""
        self.model.train()
        self.sampler.set_position(epoch, self.state.step_in_epoch)
        for x, y in self.train_loader:
            x, y = x.to(self.device), y.to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss = relative_l1_loss(*self.mask_for_error(self.net(x), y, x))
            # The mean over the ranks: what is logged, and NaN on every rank if on one.
            value = dist.mean_over_ranks(self.ctx, loss.item())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"the training loss became {value} at epoch {epoch}, step {self.state.step_in_epoch}; "
                    "lower training.lr or check the data"
                )
            loss.backward()  # DDP averages the gradients over the ranks
            optimizer_step(self.optimizer, self.model.parameters(), self.state.global_step,
                           self.warmup_steps, self.spec.training.grad_clip)
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            self.state.epoch_loss_sum += value
            self.reporter.on_step(epoch, self.state.step_in_epoch, value)
            yield

    @torch.no_grad()
    def validate(self) -> SplitScore:
        """Per-sample relative L1 (%) on the validation split, summarised (mean selects the best)."""
        self.model.eval()
        errors = [torch.zeros(0)]
        for x, y in self.val_loader:
            x, y = x.to(self.device), y.to(self.device)
            errors.append(relative_l1_percent(*self.mask_for_error(self.model(x), y, x)).cpu())
        return SplitScore.from_errors(dist.gather_errors(self.ctx, torch.cat(errors)))

    def _recalibrate(self) -> float | None:
        """Precise BN before validation (:mod:`mambano_core.training.batchnorm`); its wall time."""
        if not self.spec.training.recalibrate_bn or not batchnorm_layers(self.model):
            return None
        done = recalibrate_batchnorm(self.model, (x for x, _ in self.recal_loader), self.device)
        batches = dist.average_batchnorm_statistics(self.ctx, batchnorm_layers(self.model), done.batches)
        done = type(done)(done.layers, batches, done.samples * batches // max(done.batches, 1), done.seconds)
        if not self._recal_reported:  # once per session
            self._recal_reported = True
            self.reporter.on_message(
                f"batch-norm recalibration: {done.layers} layers over {done.batches} training batches "
                f"({done.samples} samples) before each validation, {done.seconds:.1f} s per epoch"
            )
        self.state.bn_recal_s += done.seconds
        self.state.bn_recal_epochs += 1
        return round(done.seconds, 3)

    def _end_epoch(self, epoch: int, started: float) -> dict[str, Any]:
        with warnings.catch_warnings():
            # A run resumed after its epoch's last step ends the epoch before this process's first
            # optimizer step; the restored scheduler state is right, but PyTorch warns all the same.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()
        recal_s = self._recalibrate()
        score = self.validate()
        val_mean, val_median = score.mean, score.median
        batches = max(self.state.step_in_epoch, 1)
        record = {
            "epoch": epoch + 1,
            "train_loss": self.state.epoch_loss_sum / batches,
            "val_rel_l1_mean": val_mean,
            "val_rel_l1_median": val_median,
            "lr": self.optimizer.param_groups[0]["lr"],
            "time_s": round(time.perf_counter() - started, 3),
        }
        if recal_s is not None:
            record["bn_recal_s"] = recal_s
        self.state.epoch, self.state.step_in_epoch, self.state.epoch_loss_sum = epoch + 1, 0, 0.0
        improved = val_mean < self.state.best_val
        if improved:
            self.state.best_val, self.state.best_epoch, self.state.epochs_since_best = val_mean, epoch + 1, 0
            self._save(BEST, with_train_state=False)
        else:
            self.state.epochs_since_best += 1
        record["best"] = improved
        if self.ctx.is_main:
            self.run.append_metrics(record)
        self._save(LAST)
        return record

    def fit(self) -> dict[str, Any]:
        """Train until the epoch budget, early stopping or the time budget; returns the summary.

        Raises
        ------
        TrainingInterrupted
            On Ctrl-C (after saving ``last.pt`` at the step boundary).
        TrainingDiverged
            If the loss becomes NaN or infinite.
        """
        try:
            summary = self._fit()
            # Leave the process group together: a gloo rank whose peer tears its connections down
            # while it still writes the summary can abort at exit ("terminate called without an
            # active exception", exit 134; about 1 job in 12 here).
            dist.barrier(self.ctx)
            return summary
        finally:
            self.close()

    def _fit(self) -> dict[str, Any]:
        tr = self.spec.training
        if self.ctx.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            dump_spec(self.spec, self.run.spec_path)  # the spec in force, resume changes included
            self.run.summary_path.unlink(missing_ok=True)  # training again: not finished any more
            self.run.trim_metrics(self.state.epoch)
        for change in self.resume_changes:
            self.reporter.on_message(f"resuming with {change}")
        n_params = count_parameters(self.model)
        self.reporter.on_start({
            "run": str(self.run_dir), "model": self.spec.model.name, "parameters": n_params,
            "device": str(self.device), "epochs": tr.epochs, "start_epoch": self.state.epoch,
            "start_batch": self.state.step_in_epoch, "train_samples": len(self.train_set),
            "val_samples": len(self.val_set), "batches_per_epoch": self.sampler.batches_per_epoch(),
        })
        session_start = time.perf_counter()
        elapsed_before = self.state.elapsed_s
        with _graceful_sigint(self):
            while self.state.epoch < tr.epochs:
                epoch, started = self.state.epoch, time.perf_counter()
                self.reporter.on_epoch_start(epoch, self.sampler.batches_per_epoch(), self.state.step_in_epoch)
                for _ in self._train_epoch(epoch):
                    self.state.elapsed_s = elapsed_before + time.perf_counter() - session_start
                    if dist.agree(self.ctx, self._over_budget())[0]:  # every rank stops at the same step
                        break  # the epoch ends early: validate and checkpoint below
                    if self.step_callback:
                        self.step_callback(self)
                    if dist.agree(self.ctx, self.stop_requested)[0]:  # Ctrl-C on any rank stops all
                        self._save(LAST)
                        raise TrainingInterrupted(
                            f"training stopped at epoch {epoch + 1}, step {self.state.step_in_epoch}; "
                            f"checkpoint saved to {self.run.last}; continue with --resume"
                        )
                self.state.elapsed_s = elapsed_before + time.perf_counter() - session_start
                record = self._end_epoch(epoch, started)
                self.reporter.on_epoch_end(record)
                if self.state.epochs_since_best >= tr.patience:
                    self.state.stop_reason = f"early stopping (no improvement for {tr.patience} epochs)"
                    break
                if dist.agree(self.ctx, self._over_budget())[0]:
                    self.state.stop_reason = f"time budget of {tr.max_minutes} min reached"
                    break
        self.state.stop_reason = self.state.stop_reason or "epoch budget reached"
        self._save(LAST)
        summary = self._summary(n_params)
        if self.ctx.is_main:
            self.run.write_summary(summary)
        self.reporter.on_end(summary)
        return summary

    def _over_budget(self) -> bool:
        """Whether the wall-time budget (``training.max_minutes``, summed over resumes) is spent."""
        budget = self.spec.training.max_minutes
        return budget is not None and self.state.elapsed_s >= 60 * budget

    def _summary(self, n_params: int) -> dict[str, Any]:
        return {
            "run": self.spec.run_name,
            "benchmark": self.spec.data.benchmark,
            "model": self.spec.model.name,
            "parameters": n_params,
            "device": str(self.device),
            "epochs_run": self.state.epoch,
            "best_epoch": self.state.best_epoch,
            "best_val_rel_l1_mean": self.state.best_val,
            "stop_reason": self.state.stop_reason,
            "train_time_s": round(self.state.elapsed_s, 2),
            "bn_recalibration_s_per_epoch": (
                round(self.state.bn_recal_s / self.state.bn_recal_epochs, 3) if self.state.bn_recal_epochs else None
            ),
            "output_norm_start": self.state.output_norm_start,
            "processes": self.ctx.world_size,
        }


@contextmanager
def _graceful_sigint(trainer: Trainer) -> Iterator[None]:
    """First Ctrl-C: finish the current step, checkpoint, stop. Second Ctrl-C: stop at once."""
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
