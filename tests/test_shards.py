import io
import json

import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image

from raphael.data.edges import HEDNetwork, canny_edges
from raphael.data.shards import add_edges, decode_edge, decode_rgb, expand_urls, main
from raphael.tasks.shapes import scenes as shapes
from raphael.tasks.shapes.shards import write_shapes_shards


def _read(pattern):
    return list(wds.DataPipeline(wds.SimpleShardList(expand_urls(pattern)), wds.tarfile_to_samples()))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    info = write_shapes_shards(out, num=300, val=20, seed=3, shard_size=128, progress=False)
    return out, info


def test_round_trip(tiny):
    out, info = tiny
    assert info["count"] == {"train": 300, "val": 20} and info["shards"] == {"train": 3, "val": 1}
    assert json.loads((out / "dataset.json").read_text())["holdout_pairs"] == shapes.DEFAULT_HOLDOUT
    assert sorted(p.name for p in out.glob("*.tar")) == [
        "train-000000.tar",
        "train-000001.tar",
        "train-000002.tar",
        "val-000000.tar",
    ]
    samples = _read(str(out / info["urls"]["train"]))
    assert len(samples) == 300 and len({s["__key__"] for s in samples}) == 300
    for s in samples[:20]:
        assert {"png", "txt", "json", "edge.png"} <= set(s)
        meta = json.loads(s["json"])
        image, expected = shapes.make_sample(meta["seed"], 32, (1, 3), shapes.DEFAULT_HOLDOUT)
        assert np.array_equal(decode_rgb(s["png"]), image)
        assert meta == expected and s["txt"].decode() == meta["caption"]
        edge = decode_edge(s["edge.png"])
        assert edge.shape == (32, 32) and set(np.unique(edge)) <= {0.0, 1.0} and edge.sum() > 0
    val_seeds = {json.loads(s["json"])["seed"] for s in _read(str(out / info["urls"]["val"]))}
    assert not val_seeds & {json.loads(s["json"])["seed"] for s in samples}


def test_holdout_pairs_never_written(tiny):
    out, info = tiny
    held = {tuple(p) for p in info["holdout_pairs"]}
    pairs = set()
    for s in _read(str(out / "*.tar")):
        pairs |= {(o["color"], o["shape"]) for o in json.loads(s["json"])["objects"]}
    assert not pairs & held
    assert len(pairs) >= len(shapes.COLORS) * len(shapes.SHAPES) - len(held) - 3  # the rest do appear


def test_cli_make_shapes_and_add_edges(tmp_path):
    assert (
        main(
            [
                "make-shapes",
                "--out",
                str(tmp_path / "s"),
                "--num",
                "10",
                "--val",
                "4",
                "--shard-size",
                "5",
                "--image-size",
                "24x40",
                "--holdout",
                "red:circle",
                "--quiet",
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "s" / "dataset.json").read_text())
    assert info["image_size"] == [24, 40] and info["holdout_pairs"] == [["red", "circle"]]
    assert len(_read(str(tmp_path / "s" / "train-{000000..000001}.tar"))) == 10

    # an img2dataset-style shard without edges (jpg, grayscale, one broken image)
    src = tmp_path / "coco"
    src.mkdir()
    with wds.TarWriter(str(src / "00000.tar")) as w:
        for i, mode in enumerate(["RGB", "L", "RGBA"]):
            buf = io.BytesIO()
            Image.new(mode, (20, 12), 128).save(buf, format="PNG" if mode == "RGBA" else "JPEG")
            w.write({"__key__": f"{i:09d}", "jpg": buf.getvalue(), "txt": "a photo", "json": {"url": "x"}})
        w.write({"__key__": "000000009", "jpg": b"not an image", "txt": "broken"})
    stats = add_edges(str(src / "*.tar"), tmp_path / "out", progress=False)
    assert stats == {"written": 3, "skipped": 1, "shards": 1}
    got = _read(str(tmp_path / "out" / "00000.tar"))
    assert [s["__key__"] for s in got] == ["000000000", "000000001", "000000002"]
    assert all(decode_edge(s["edge.png"]).shape == (12, 20) and s["txt"] == b"a photo" for s in got)
    with pytest.raises(FileNotFoundError, match="matches no shard"):
        add_edges(str(tmp_path / "nothing-*.tar"), tmp_path / "o2", progress=False)


def test_canny_finds_outlines_and_hed_contract(tmp_path):
    image, meta = shapes.make_sample(5)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    edges = canny_edges(x)
    assert edges.shape == (1, 1, 32, 32) and edges.dtype == torch.float32
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    for o in meta["objects"]:  # every object has edges inside its (slightly grown) bbox
        x0, y0, x1, y1 = o["bbox"]
        assert edges[0, 0, max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1].sum() > 0
    with pytest.raises(FileNotFoundError, match="HED weights not found"):
        HEDNetwork(tmp_path / "missing.pth")
    net = HEDNetwork()
    path = tmp_path / "hed.pth"
    torch.save(net.state_dict(), path)
    loaded = HEDNetwork(path)
    out = loaded(torch.rand(2, 3, 20, 28))
    assert out.shape == (2, 1, 20, 28) and out.dtype == torch.float32 and 0 <= out.min() <= out.max() <= 1
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="do not fit"):
        HEDNetwork(tmp_path / "bad.pth")


def test_decode_rgb_converts_modes():
    for mode, value in [
        ("L", 90),
        ("RGBA", (10, 20, 30, 0)),
        ("P", 3),
        ("I;16", 40000),
        ("CMYK", (0, 0, 0, 0)),
    ]:
        buf = io.BytesIO()
        Image.new(mode, (5, 4), value).save(buf, format="TIFF" if mode in ("CMYK",) else "PNG")
        array = decode_rgb(buf.getvalue())
        assert array.shape == (4, 5, 3) and array.dtype == np.uint8
    assert (decode_rgb(_png(Image.new("RGBA", (3, 3), (10, 20, 30, 0)))) == 255).all()  # alpha -> white


def _png(pil):
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()
