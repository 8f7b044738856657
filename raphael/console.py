"""What a person reads on the console: third-party noise off (narrowly), one line per INFO record.

`quiet_third_party()` runs at the start of every entry point, after Hydra has set up logging:
- Lightning's package logger has a console handler of its own *and* propagates to the root logger that
  Hydra configures (console + <task>.log), so every Lightning INFO line was printed twice: its own
  handler goes, Hydra's stays (the file keeps every line).
- Lightning's "litlogger" tip, and torch-tree's `LeafSpec` deprecation raised inside Lightning, are
  filtered by their exact message; nothing else is silenced.
- transformers' "Loading weights" progress bar (the frozen text encoder) is turned off.
"""

from __future__ import annotations

import logging
import warnings


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(f in record.getMessage() for f in self.fragments)


def quiet_third_party() -> None:
    lightning_logger = logging.getLogger("lightning")
    if logging.getLogger().handlers:  # Hydra's handlers print (and file) every record once
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropMessages("litlogger"))
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
