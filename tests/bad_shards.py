"""Writes a small battery of good and bad WebDataset shards (used by test_bad_data and test_resume)."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def zero_size_png() -> bytes:
    """A syntactically valid PNG header that declares a 0x0 image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def rgb(seed: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


def write_tar(path: Path, samples: list[dict[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for sample in samples:
            key = sample["__key__"]
            for ext, data in sample.items():
                if ext == "__key__":
                    continue
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def good(key: str, seed: int, caption: str = "a red circle on the left") -> dict[str, bytes]:
    return {"__key__": key, "png": png(rgb(seed)), "txt": caption.encode()}


def write_good_shards(folder: Path, num_shards: int = 3, per_shard: int = 8) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(num_shards):
        write_tar(folder / f"good-{s:02d}.tar",
                  [good(f"g{s:02d}_{i:03d}", 100 * s + i, f"shape {s} {i}") for i in range(per_shard)])
    return str(folder / f"good-{{00..{num_shards - 1:02d}}}.tar")


def write_bad_battery(folder: Path) -> tuple[str, set[str], set[str]]:
    """Shards mixing good and bad samples. Returns (url pattern, keys that must be used, keys that must be
    skipped); the truncated and random-bytes shards add skips of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    gray = np.random.default_rng(1).integers(0, 255, (12, 12), dtype=np.uint8)
    rgba = np.random.default_rng(2).integers(0, 255, (12, 12, 4), dtype=np.uint8)
    valid = [
        good("ok_0", 0), good("ok_1", 1), good("ok_2", 2), good("ok_3", 3),
        {"__key__": "gray", "png": png(gray), "txt": b"a gray square"},
        {"__key__": "rgba", "png": png(rgba, "RGBA"), "txt": b"a see-through triangle"},
        good("long", 4, "a very long caption " * 250),  # 5,000 characters: truncated by the tokenizer
        good("unicode", 5, "un cercle rouge à gauche, 赤い丸, 🟥 ñandú"),
    ]
    invalid = [
        {"__key__": "no_caption", "png": png(rgb(6))},
        {"__key__": "undecodable", "png": b"\x89PNG but not really an image", "txt": b"broken"},
        {"__key__": "zero_size", "png": zero_size_png(), "txt": b"nothing to see"},
        {"__key__": "empty_caption", "png": png(rgb(7)), "txt": b""},
    ]
    write_tar(folder / "mixed-00.tar", valid[:4] + invalid[:2])
    write_tar(folder / "mixed-01.tar", valid[4:] + invalid[2:])
    # a shard cut off in the middle of its last member, as an interrupted download leaves it
    write_tar(folder / "mixed-02.tar", [good("trunc_ok", 8), good("trunc_cut", 9)])
    with tarfile.open(folder / "mixed-02.tar") as tar:
        cut = tar.getmember("trunc_cut.png").offset_data + 40
    with open(folder / "mixed-02.tar", "r+b") as f:
        f.truncate(cut)
    (folder / "mixed-03.tar").write_bytes(np.random.default_rng(3).bytes(5000))  # random bytes named .tar
    must_use = {s["__key__"] for s in valid}
    must_skip = {s["__key__"] for s in invalid} | {"trunc_cut"}
    return str(folder / "mixed-{00..03}.tar"), must_use, must_skip
