"""The code's shape: no import cycles, registries and the settings' choices agree, every
setting reaches the command line once, numbers are validated where settings are built."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterpipe import config
from clusterpipe.cli import cli
from clusterpipe.config import ClusterSettings, EncodeSettings, ExportSettings, RunSettings
from clusterpipe.decoders import Decoder
from clusterpipe.encoders import ENCODERS
from clusterpipe.engines import Engine
from clusterpipe.errors import ClusterpipeError
from clusterpipe.export.base import Exporter
from clusterpipe.faces import Detector

PACKAGE = Path(__file__).resolve().parents[1] / "clusterpipe"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at top level or inside functions."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {n for n in names if n in mods and n != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = import_graph()
    assert "clusterpipe.video" in graph and "clusterpipe.cli.run" in graph
    assert cycles(graph) == []
    # The check finds one where there is one.
    planted = {**graph, "clusterpipe.samples": graph["clusterpipe.samples"] | {"clusterpipe.video"}}
    assert cycles(planted) == [["clusterpipe.decoders", "clusterpipe.samples", "clusterpipe.video"]]


def test_modules_are_small_enough_to_read_in_one_sitting():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 420, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_choices_are_the_registries():
    assert set(config.DETECTORS) == set(Detector.registry)
    assert set(config.DECODERS) == set(Decoder.registry)
    assert set(config.ENGINES) == set(Engine.registry)
    kinds = {k for cls in Exporter.registry.values() for k in cls.images}
    assert kinds == set(config.IMAGE_KINDS)
    assert ENCODERS[0] == "dlib" and "facenet" in ENCODERS
    with pytest.raises(
        ClusterpipeError, match="unknown detector 'x'; choose one of hog, cnn, mtcnn"
    ):
        Detector.get("x")


@pytest.mark.parametrize(
    ("command", "classes"),
    [("run", (EncodeSettings, ClusterSettings, RunSettings)), ("export", (ExportSettings,))],
)
def test_every_setting_is_on_the_command_line_once(command, classes):
    text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    for cls in classes:
        for f in cls.__dataclass_fields__.values():
            if "help" in f.metadata:
                name = config.option_name(f.name)
                assert text.count(f"{name} ") + text.count(f"{name}/") >= 1, name
                assert f.metadata["help"].split()[0] in text


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--segment-seconds", "nan"),
        ("--noise-threshold", "nan"),
        ("--eps", "nan"),
        ("--min-score", "-1"),
        ("--fps", "0"),
        ("--split-distance", "inf"),
    ],
)
def test_bad_numbers_are_refused_before_any_work(option, value, tmp_path):
    result = CliRunner().invoke(cli, ["run", "x.mp4", "--out", str(tmp_path / "o"), option, value])
    assert result.exit_code == 2 and option in result.output
    assert not (tmp_path / "o").exists()


def test_settings_refuse_nan_from_the_api_too():
    for bad in (
        lambda: ClusterSettings(noise_threshold=math.nan),
        lambda: RunSettings(segment_seconds=math.nan),
        lambda: EncodeSettings(min_score=math.nan),
    ):
        with pytest.raises(ClusterpipeError, match="must be in"):
            bad()
