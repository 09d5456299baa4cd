"""How the trainer reports progress: a no-op base that the CLI subclasses with rich output."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mambano.train")


class TrainingReporter:
    """Receives training events; every method is optional to override."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Training starts (model name, parameter count, device, epochs, resume point)."""
        log.info("training %s", info)

    def on_message(self, text: str) -> None:
        """A one-off remark worth showing the user (e.g. the cost of an extra pass)."""
        log.info("%s", text)

    def on_epoch_start(self, epoch: int, batches: int, start_batch: int) -> None:
        """An epoch starts (``start_batch`` > 0 when resuming mid-epoch)."""

    def on_step(self, epoch: int, batch: int, loss: float) -> None:
        """A training step finished with batch loss ``loss``."""

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """An epoch finished; ``record`` is the metrics-log line."""
        log.info("epoch %s", record)

    def on_end(self, summary: dict[str, Any]) -> None:
        """Training finished (or stopped)."""
        log.info("done %s", summary)
