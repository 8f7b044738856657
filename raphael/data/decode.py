"""One WebDataset sample -> the fields a batch needs, and the handler that skips and counts bad ones.

`decode_sample` raises `BadSample` (naming shard and key) on anything it cannot use; `SkipCounter`, the
pipelines' WebDataset handler, logs each skip with the shard and the sample, counts them, and stops a run
that cannot make progress (`max_in_a_row` bad items without one good batch) with a DataError.
"""

from __future__ import annotations

import json
import logging

from raphael.data.buckets import fit_edge
from raphael.data.shards import EDGE_EXTENSION, decode_edge, decode_rgb, image_field
from raphael.run.errors import DataError

log = logging.getLogger(__name__)


class BadSample(ValueError):
    """A sample that cannot be used, with the shard and the key it came from."""

    def __init__(self, shard: str | None, key: str | None, reason: str) -> None:
        super().__init__(reason)
        self.shard, self.key = shard, key


def _shard_of(exn: Exception) -> str | None:
    """WebDataset appends the shard URL to a tar-level error's args (or None when it does not know it)."""
    names = [a for a in getattr(exn, "args", ())[1:] if isinstance(a, str)]
    return names[-1] if names else None


class SkipCounter:
    """WebDataset handler: log and count a bad sample or shard (naming both), then continue; give up with a
    DataError after `max_in_a_row` bad items without one good batch (every shard bad: no progress)."""

    def __init__(self, max_in_a_row: int = 1000) -> None:
        self.count = self.total = self.in_a_row = 0  # bad items since the last batch, in all, in a row
        self.max_in_a_row = max_in_a_row
        self.shard: str | None = None  # the shard being read (set by `reading`): tar-level errors may not say
        self.bad: list[str] = []       # "shard#key" of each bad item since the last batch

    def reading(self, source: dict) -> dict:
        """Pass-through stage after the shard list: remembers which shard the tar reader is on."""
        self.shard = source.get("url")
        return source

    def __call__(self, exn: Exception) -> bool:
        if isinstance(exn, BadSample):
            shard, key = exn.shard or self.shard, exn.key
        else:
            shard, key = _shard_of(exn) or self.shard, None
        self.count += 1
        self.total += 1
        self.in_a_row += 1
        where = f"sample {key!r} of shard {shard}" if key else f"a member of shard {shard} (or the shard itself)"
        first = str(exn.args[0]) if exn.args else ""
        reason = first if isinstance(exn, BadSample) else f"{type(exn).__name__}: {first}"
        self.bad.append(f"{shard}#{key or reason[:80]}")
        log.warning("data: skipped %s (%d bad so far): %s", where, self.total, reason[:300])
        if self.in_a_row >= self.max_in_a_row:
            raise DataError(
                f"data: {self.in_a_row} bad samples in a row and not one good batch (the last: {where}: "
                f"{reason[:200]}). These shards cannot feed training: data.urls must name "
                "WebDataset .tar shards of images with .txt captions (python -m raphael.data.shards make-shapes "
                "writes valid ones); data.max_bad_in_a_row sets this limit."
            )
        return True

    def pop(self) -> tuple[int, list[str]]:
        """(bad items, their ids) since the previous call: a batch was assembled, so training progresses."""
        n, bad = self.count, self.bad
        self.count, self.bad, self.in_a_row = 0, [], 0
        return n, bad


def _decode(sample: dict) -> dict:
    key = sample.get("__key__")
    caption = sample.get("txt")
    if caption is None:
        raise ValueError("no caption (.txt)")
    caption = caption.decode("utf-8").strip() if isinstance(caption, bytes) else str(caption).strip()
    if not caption:
        raise ValueError("empty caption")
    field = image_field(sample)
    if field is None:
        raise ValueError(f"no image (fields: {sorted(sample)})")
    image = decode_rgb(sample[field])
    edge = fit_edge(decode_edge(sample[EDGE_EXTENSION]), image.shape[:2]) if EDGE_EXTENSION in sample else None
    meta = json.loads(sample["json"]) if "json" in sample else {}
    return {"image": image, "edge": edge, "caption": caption, "meta": meta, "key": key}


def decode_sample(sample: dict) -> dict:
    """Raw WebDataset sample -> {image uint8 HxWx3, edge float HxW or None, caption, meta, key}.
    Raises BadSample (naming shard and key); the pipeline's handler counts and skips it."""
    try:
        return _decode(sample)
    except Exception as err:
        raise BadSample(sample.get("__url__"), sample.get("__key__"), f"{type(err).__name__}: {err}") from err
