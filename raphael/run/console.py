"""What a person reads on the console: third-party noise off (narrowly), one line per INFO record.

`quiet_third_party()` runs at the start of every entry point, after Hydra has set up logging:
- Lightning's loggers have console handlers of their own (`lightning` always; `lightning.pytorch` and
  `lightning.fabric` when imported before logging was set up, then without propagation), so its INFO lines
  were printed twice, or once but missing from Hydra's `<task>.log`: when Hydra has configured the root
  logger, those handlers go and the records propagate to Hydra's console and file handlers.
- Lightning's "litlogger" tip, and torch-tree's `LeafSpec` deprecation raised inside Lightning, are
  filtered by their exact message; nothing else is silenced.
- transformers' "Loading weights" progress bar (the frozen text encoder) is turned off.
"""

from __future__ import annotations

import logging
import warnings

from transformers.utils import logging as hf_logging


def quiet_third_party() -> None:
    if logging.getLogger().handlers:  # Hydra's handlers print (and file) every record once
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
    hf_logging.disable_progress_bar()
