"""A gallery's index tuned under a memory and time budget: same names as exact search, exact
thresholds through re-ranking, settings remembered, tampering refused."""

import hashlib
import json

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.config import IndexSettings, parse_size
from clusterpipe.errors import ClusterpipeError, GalleryError
from clusterpipe.gallery import index as gallery_index
from clusterpipe.gallery.store import Gallery
from tests.helpers import gallery_like

from ..fake_run import make_run

SMALL = IndexSettings("auto", "400KB", 10.0)  # a 5000-face gallery must be compressed for it


def _gallery(tmp_path, settings, n=5000, seed=0):
    x, labels = gallery_like(n, seed=seed)
    entries = [
        {"name": f"p{label}", "run": "r", "face_id": str(i)} for i, label in enumerate(labels)
    ]
    return Gallery(tmp_path / "g", entries, x, settings=settings), x, labels


def test_sizes_read_as_users_write_them():
    assert parse_size("4GB") == 4 * 10**9 and parse_size("512 mb") == 512 * 10**6
    assert parse_size("2GiB") == 2 * 2**30 and parse_size("1e6") == 10**6
    for bad in ("", "x", "0", "-1GB", "4 GIBS", "1e400GB", "nan"):
        with pytest.raises(ClusterpipeError, match="not a size"):
            parse_size(bad)


def test_flat_asked_for_is_kept_and_said_when_over_the_memory_budget(caplog):
    with caplog.at_level("WARNING", logger="clusterpipe"):
        assert gallery_index.choose(400_000, 128, IndexSettings("flat", "10MB")) == ["Flat"]
    assert "over the memory budget 10MB" in caplog.text and "204.8 MB" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="clusterpipe"):
        gallery_index.choose(1000, 128, IndexSettings("flat", "10MB"))
    assert caplog.text == ""
    for index in ("flat", "auto"):  # too few faces to compress: exact, and said
        caplog.clear()
        with caplog.at_level("WARNING", logger="clusterpipe"):
            assert gallery_index.choose(48, 128, IndexSettings(index, "1KB")) == ["Flat"]
        assert "over the memory budget 1KB (too few faces" in caplog.text


def test_exact_search_below_the_budgets_compressed_above():
    defaults = IndexSettings()
    assert gallery_index.choose(100_000, 128, defaults) == ["Flat"]
    # exact search of 400k dlib faces takes longer than 10 ms here: compressed
    keys = gallery_index.choose(400_000, 128, defaults)
    assert keys == ["IVF512,PQ64x4fs", "IVF512,PQ32x4fs", "IVF512,PQ16x4fs"]
    assert gallery_index.choose(400_000, 128, IndexSettings("flat")) == ["Flat"]
    # the memory budget decides how short the codes are
    keys = gallery_index.choose(1_000_000, 128, IndexSettings("auto", "64MB"))
    assert keys[0] == "IVF1024,PQ64x4fs"
    keys = gallery_index.choose(1_000_000, 128, IndexSettings("auto", "30MB"))
    assert keys[0] == "IVF1024,PQ32x4fs"
    with pytest.raises(ClusterpipeError, match="too small for 5000 faces"):
        gallery_index.choose(5000, 128, IndexSettings("auto", "10KB"))


def test_auto_gives_the_same_names_as_flat(tmp_path):
    auto, x, labels = _gallery(tmp_path, SMALL)
    flat, _, _ = _gallery(tmp_path, IndexSettings("flat"))
    assert not auto.plan.exact and auto.plan.bytes <= SMALL.memory_bytes
    assert auto.plan.recall_at_1 >= 0.99
    rng = np.random.default_rng(1)
    known = x[:300] + rng.normal(scale=0.02, size=(300, 128)).astype(np.float32)
    strangers, _ = gallery_like(200, seed=99)
    queries = np.vstack([known, strangers])
    a, f = auto.identify(queries), flat.identify(queries)
    assert [m.name for m in a] == [m.name for m in f]
    named = [i for i, m in enumerate(f) if m.name != "unknown"]
    assert len(named) >= 290
    # a named face's distance is exact; an unknown one's is never below the exact one
    assert np.allclose([a[i].distance for i in named], [f[i].distance for i in named], atol=1e-5)
    assert all(x.distance >= y.distance - 1e-5 for x, y in zip(a, f))


def test_reranking_keeps_the_threshold_exact(tmp_path):
    g, x, _ = _gallery(tmp_path, SMALL)
    assert not g.plan.exact
    direction = np.random.default_rng(2).normal(size=128).astype(np.float32)
    direction /= np.linalg.norm(direction)
    for row in (10, 2000, 4321):
        for offset, named in ((0.4 - 1e-3, True), (0.4 + 1e-3, False)):
            q = x[row] + offset * direction
            exact = np.linalg.norm(x - q, axis=1).min()
            (m,) = g.identify(q[None], threshold=0.4)
            assert abs(m.distance - exact) < 1e-5  # the exact distance, not the code's
            assert (m.name != "unknown") == (exact <= 0.4)
            if abs(exact - offset) < 1e-6:  # no other face nearer than the one moved from
                assert (m.name != "unknown") == named


def test_saved_tuned_gallery_opens_and_searches_the_same(tmp_path):
    g, x, _ = _gallery(tmp_path, SMALL)
    g.save()
    data = json.loads((tmp_path / "g" / "gallery.json").read_text())
    plan = data["index"]["plan"]
    assert plan["key"].startswith("IVF") and plan["nprobe"] >= 1 and plan["rerank"] > 0
    assert data["index"]["settings"] == {
        "index": "auto",
        "max_index_memory": "400KB",
        "max_query_ms": 10.0,
    }
    again = Gallery.open(tmp_path / "g")
    assert again.plan == g.plan and again.settings == SMALL
    q = x[:50] + 0.01
    assert [m.name for m in again.identify(q)] == [m.name for m in g.identify(q)]


def _rewrite(path, sidecar, data_bytes, key):
    path.write_bytes(data_bytes)
    d = json.loads(sidecar.read_text())
    d[key] = hashlib.sha256(data_bytes).hexdigest()
    sidecar.write_text(json.dumps(d))


@pytest.mark.parametrize(
    "damage",
    [
        "flip_index",
        "flat_for_ivf",
        "flip_vectors",
        "short_vectors",
        "bad_plan",
        "huge_rerank",
        "format_2_over_ivf",  # once a segfault: format 2 reads the vectors back from the index
        "entry_without_run",
        "settings_of_another_type",
        "huge_number",
        "other_ivf",
    ],
)
def test_tampered_or_mismatched_tuned_index_is_refused(tmp_path, damage):
    g, x, _ = _gallery(tmp_path, SMALL)
    g.save()
    folder = tmp_path / "g"
    sidecar = folder / "gallery.json"
    index = next(folder.glob("index-*.faiss"))
    vectors = next(folder.glob("vectors-*.npy"))
    if damage == "flip_index":
        data = bytearray(index.read_bytes())
        data[len(data) // 3] ^= 0xFF
        index.write_bytes(bytes(data))
    elif damage == "flat_for_ivf":  # a valid index of the right size, not the one recorded
        flat = faiss.IndexFlatL2(128)
        flat.add(x)
        _rewrite(index, sidecar, faiss.serialize_index(flat).tobytes(), "index_sha256")
    elif damage == "flip_vectors":
        data = bytearray(vectors.read_bytes())
        data[-5] ^= 0xFF
        vectors.write_bytes(bytes(data))
    elif damage == "short_vectors":
        import io

        buf = io.BytesIO()
        np.save(buf, x[:-1])
        _rewrite(vectors, sidecar, buf.getvalue(), "vectors_sha256")
    elif damage == "bad_plan":
        d = json.loads(sidecar.read_text())
        d["index"]["plan"]["nprobe"] = "many"
        sidecar.write_text(json.dumps(d))
    elif damage == "huge_rerank":  # would make every search allocate n x 10^12 candidates
        d = json.loads(sidecar.read_text())
        d["index"]["plan"]["rerank"] = 10**12
        sidecar.write_text(json.dumps(d))
    elif damage in ("format_2_over_ivf", "entry_without_run", "settings_of_another_type"):
        d = json.loads(sidecar.read_text())
        if damage == "format_2_over_ivf":
            d["format"] = 2
        elif damage == "entry_without_run":
            del d["entries"][7]["run"]
        else:
            d["index"]["settings"]["max_query_ms"] = "5"
        sidecar.write_text(json.dumps(d))
    elif damage == "huge_number":
        sidecar.write_text(sidecar.read_text().replace('"bytes": ', '"bytes": 1' + "0" * 400, 1))
    elif damage == "other_ivf":  # a valid compressed index, not the one recorded
        other = gallery_index.build(x, IndexSettings("auto", "150KB"), 0.5)[0]
        assert type(other).__name__ == "IndexIVFPQFastScan" and other.pq.M != g.index.pq.M
        _rewrite(index, sidecar, faiss.serialize_index(other).tobytes(), "index_sha256")
    with pytest.raises(GalleryError) as e:
        Gallery.open(folder)
    assert "\n" not in str(e.value)
    result = CliRunner().invoke(cli, ["gallery", str(folder)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_promote_remembers_index_options_and_reuses_the_training(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 700, "bob": 600, "Face_2": 3})
    g = tmp_path / "g"
    runner = CliRunner()
    r = runner.invoke(cli, ["promote", str(out), "--gallery", str(g), "--max-index-memory", "70KB"])
    assert r.exit_code == 0, r.output
    assert "recall@1" in r.output and "PQ" in r.output
    first = json.loads((g / "gallery.json").read_text())["index"]
    assert first["settings"]["max_index_memory"] == "70KB"
    # a correction: promote again without options keeps the budget and the trained codes
    crop = next((out / "clusters" / "alice").glob("*.jpg"))
    crop.rename(out / "clusters" / "bob" / crop.name)
    r = runner.invoke(cli, ["promote", str(out), "--gallery", str(g)])
    assert r.exit_code == 0, r.output
    second = json.loads((g / "gallery.json").read_text())["index"]
    assert second["settings"] == first["settings"]
    assert second["plan"]["key"] == first["plan"]["key"]
    assert second["plan"]["trained_on"] == first["plan"]["trained_on"]
    assert Gallery.open(g).people() == {"alice": 699, "bob": 601}
    # the index option alone rebuilds: exact search, remembered
    r = runner.invoke(cli, ["promote", str(out), "--gallery", str(g), "--index", "flat"])
    assert r.exit_code == 0 and "exact search" in r.output
    r = runner.invoke(cli, ["gallery", str(g)])
    assert "index: exact search (Flat)" in r.output
    assert len(list(g.glob("index-*.faiss"))) == 1 and len(list(g.glob("vectors-*.npy"))) == 1


def test_bad_index_options_are_one_line_errors(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 700, "bob": 600})
    for args in (["--max-index-memory", "lots"], ["--max-index-memory", "1KB"]):
        r = CliRunner().invoke(cli, ["promote", str(out), "--gallery", str(tmp_path / "g"), *args])
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "g" / "gallery.json").exists()


def test_copies_of_faces_do_not_fool_the_tuning(tmp_path):
    """One face promoted from two runs is stored twice: a held-back face's copy must not count
    as found, or nprobe stays at 1 and new faces come back unknown."""
    x, labels = gallery_like(3000, seed=4)
    x2 = np.vstack([x, x])
    entries = [
        {"name": f"p{label}", "run": "r", "face_id": str(i)} for i, label in enumerate(labels)
    ]
    auto = Gallery(tmp_path / "a", entries * 2, x2, settings=SMALL)
    flat = Gallery(tmp_path / "f", entries * 2, x2, settings=IndexSettings("flat"))
    assert not auto.plan.exact and auto.plan.recall_at_1 >= 0.99
    new, _ = gallery_like(3400, seed=4)  # the same people, 400 faces not in the gallery
    queries = new[3000:]
    assert [m.name for m in auto.identify(queries)] == [m.name for m in flat.identify(queries)]


def test_small_gallery_stays_exact_whatever_the_budget(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 700, "bob": 600})
    g = tmp_path / "g"
    r = CliRunner().invoke(
        cli, ["promote", str(out), "--gallery", str(g), "--max-index-memory", "100KB"]
    )
    assert r.exit_code == 0 and "PQ" in r.output, r.output
    # 700 faces left: too few to train a compressed index, so exact search, over budget or not
    r = CliRunner().invoke(cli, ["gallery", str(g), "--remove", "bob"])
    assert r.exit_code == 0 and "exact search" in r.output, r.output
