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
from clusterpipe.detect.base import Detector
from clusterpipe.encode.base import Encoder
from clusterpipe.engines import Engine
from clusterpipe.errors import ClusterpipeError
from clusterpipe.export.base import Exporter
from clusterpipe.sample.decoders import Decoder

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
    assert "clusterpipe.sample.video" in graph and "clusterpipe.cli.run" in graph
    assert cycles(graph) == []
    # The check finds one where there is one.
    samples, video = "clusterpipe.sample.samples", "clusterpipe.sample.video"
    planted = {**graph, samples: graph[samples] | {video}}
    assert cycles(planted) == [["clusterpipe.sample.decoders", samples, video]]


# The stage packages, lowest first: a module imports only from its own package or a lower layer
# (so store <- cluster <- people <- review/cli); peers in one layer do not import each other,
# but for the core modules of the first.
LAYERS = [
    {"clusterpipe", "errors", "registry", "_moved", "models", "config", "interrupts"},
    {"store"},
    {"sample", "detect"},
    {"cluster", "generate"},
    {"encode"},
    {"engines", "people", "evaluate"},
    {"gallery", "export", "review"},
    {"api"},
    {"cli"},
    {"entry"},
    {"__main__"},
]


def shims() -> list[str]:
    """The old module names (0.2) kept for one release: top-level modules that only forward."""
    return sorted(
        p.stem
        for p in PACKAGE.glob("*.py")
        if p.read_text().startswith('"""Deprecated (kept for one release)')
    )


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: clusterpipe.store.lock -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    layer = {u: k for k, us in enumerate(LAYERS) for u in us}
    layer.update({s: len(LAYERS) for s in shims()})
    bad = []
    for mod, targets in graph.items():
        for t in targets:
            a, b = unit(mod), unit(t)
            if a != b and (layer[b] > layer[a] or layer[b] == layer[a] > 0):
                bad.append(f"{mod} -> {t}")
    return sorted(bad)


def test_stages_import_only_lower_layers():
    graph = import_graph()
    units = {unit(m) for m in graph}
    assert units <= set().union(*LAYERS, shims()), "a new package needs its place in LAYERS"
    assert layer_violations(graph) == []
    planted = {**graph, "clusterpipe.store.files": {"clusterpipe.people.status"}}
    assert layer_violations(planted) == ["clusterpipe.store.files -> clusterpipe.people.status"]
    planted = {**graph, "clusterpipe.engines.local": {"clusterpipe.people.status"}}
    assert layer_violations(planted) == ["clusterpipe.engines.local -> clusterpipe.people.status"]


def test_old_import_paths_work_for_one_release_with_a_warning():
    import importlib

    assert len(shims()) >= 20
    for old in shims():
        forward = importlib.import_module(f"clusterpipe.{old}").__getattr__.__closure__
        targets = next(c.cell_contents for c in forward if isinstance(c.cell_contents, tuple))
        new = importlib.import_module(targets[0])
        name = next(n for n in vars(new) if not n.startswith("_") and n != "annotations")
        with pytest.warns(DeprecationWarning, match=f"import {name} from {targets[0]}"):
            assert getattr(importlib.import_module(f"clusterpipe.{old}"), name) is vars(new)[name]
    with pytest.warns(DeprecationWarning):
        from clusterpipe.faces import FaceEncoder
    from clusterpipe.encode.dlib import FaceEncoder as moved

    assert FaceEncoder is moved


def test_modules_are_small_enough_to_read_in_one_sitting():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 420, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_choices_are_the_registries():
    assert set(config.DETECTORS) == set(Detector.registry)
    assert set(config.DECODERS) == set(Decoder.registry)
    assert set(config.ENGINES) == set(Engine.registry)
    kinds = {k for cls in Exporter.registry.values() for k in cls.images}
    assert kinds == set(config.IMAGE_KINDS)
    assert config.ENCODERS == ("dlib", *Encoder.registry)
    assert all(config.SPACE_EPS[n] == cls.eps for n, cls in Encoder.registry.items())
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


@pytest.mark.parametrize(
    "args",
    [
        ["tune", "{o}", "gt.json", "--eps", "5"],
        ["tune", "{o}", "gt.json", "--eps", "0.4,nan"],
        ["tune", "{o}", "gt.json", "--eps", "0.4,,0.5"],
        ["tune", "{o}", "gt.json", "--min-samples", "2,0"],
        ["identify", "x.jpg", "--gallery", "{o}", "--threshold", "nan"],
        ["identify", "x.jpg", "--gallery", "{o}", "--fps", "nan"],
    ],
)
def test_other_commands_refuse_bad_numbers_naming_the_option(args, tmp_path):
    result = CliRunner().invoke(cli, [a.format(o=tmp_path / "o") for a in args])
    assert result.exit_code == 2 and f"Invalid value for '{args[-2]}'" in result.output
    assert not (tmp_path / "o").exists()


def test_an_address_without_the_dask_engine_is_refused(tmp_path):
    args = ["run", "x.mp4", "--out", str(tmp_path / "o"), "--address", "tcp://h:8786"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--address needs --engine dask" in result.output
    assert not (tmp_path / "o").exists()


def test_settings_refuse_nan_from_the_api_too():
    for bad in (
        lambda: ClusterSettings(noise_threshold=math.nan),
        lambda: RunSettings(segment_seconds=math.nan),
        lambda: EncodeSettings(min_score=math.nan),
    ):
        with pytest.raises(ClusterpipeError, match="must be in"):
            bad()


def test_tests_mirror_the_packages():
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders and folders <= packages, folders - packages


def test_results_that_were_dicts_still_read_as_dicts_for_one_release():
    from clusterpipe.evaluate.metrics import Scores
    from clusterpipe.evaluate.tune import TuneRow

    scores = Scores(10, 9, 0, 0.9, 1.0, 2, 2, 0.0, 1, 1, 1, 1, 1, 1, 0.95, 0.9)
    row = TuneRow("dlib", "none", 0.5, 2, True, True, 0.575, False, scores)
    with pytest.warns(DeprecationWarning, match=r"use \.e2e_bcubed_f1"):
        assert scores["e2e_bcubed_f1"] == 0.95
    with pytest.warns(DeprecationWarning):
        assert row["bcubed_f1"] == 1 and row["space"] == "dlib"  # 0.2's rows were flat
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError):
        row["nothing"]


def test_the_api_reference_lists_every_module():
    """make docs renders docs/reference/<package>.md: a module left out would be undocumented."""
    reference = PACKAGE.parent / "docs" / "reference"
    for pkg in (p for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "cli"):
        page = (reference / f"{pkg.name}.md").read_text()
        for mod in pkg.glob("*.py"):
            name = f"clusterpipe.{pkg.name}" + ("" if mod.stem == "__init__" else f".{mod.stem}")
            assert f"::: {name}\n" in page, f"{name} is missing from docs/reference"


def test_the_public_api_and_its_records_import_from_the_top():
    import clusterpipe

    for name in clusterpipe.__all__:
        assert getattr(clusterpipe, name) is not None, name
    from clusterpipe import DaskEngine, ExportResult, RunResult, Scores  # noqa: F401
