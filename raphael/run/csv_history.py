"""A CSV logger that keeps a resumed run's history.

Lightning's CSVLogger deletes `metrics.csv` when it writes into a folder that has one, so a run resumed
with `ckpt_path=last` (which continues in its own run folder) would lose every row logged before the
interruption. `HistoryCSVLogger` reads the old rows first and writes them back ahead of the new ones,
dropping rows at or after the first step logged again (the steps the resumed run repeats).
"""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class HistoryWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        self._history: list[dict[str, str]] = []
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self._history = list(csv.DictReader(file))
            self._fs.rm_file(self.metrics_file_path)  # rewritten, history first, at the first save

    def save(self) -> None:
        if self._history and self.metrics:
            first_new = min(int(m["step"]) for m in self.metrics)
            kept = [{k: v for k, v in row.items() if v != ""} for row in self._history
                    if row.get("step", "") != "" and int(row["step"]) < first_new]
            self.metrics = kept + self.metrics
            self._history = []
        super().save()


class HistoryCSVLogger(CSVLogger):
    """CSVLogger whose metrics.csv survives a resume into the same folder (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> HistoryWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = HistoryWriter(log_dir=self.log_dir)
        return self._experiment
