"""`clusterpipe evaluate` and `tune`: scoring a run against ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import ClusterSettings
from ..evaluate.metrics import MATCH_IOU
from .group import cli
from .options import Finite, ListOf, setting_type


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("ground_truth", type=click.Path(path_type=Path))
@click.option(
    "--iou",
    type=Finite(click.FloatRange(0, 1, min_open=True)),
    default=MATCH_IOU,
    show_default=True,
    help="Minimum IoU for a predicted box to match a ground-truth face.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
def evaluate(out, ground_truth, iou, as_json) -> None:
    """Score the run in OUT against GROUND_TRUTH.json (detection, BCubed, pairwise).

    \b
    Example:
      clusterpipe evaluate footage_out ground_truth.json
    """
    from ..api import evaluate_run

    res = evaluate_run(out, ground_truth, iou).to_json()
    if as_json:
        click.echo(json.dumps(res))
        return
    for k, v in res.items():
        click.echo(f"{k:22s} {v:.4f}" if isinstance(v, float) else f"{k:22s} {v}")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("ground_truth", type=click.Path(path_type=Path))
@click.option(
    "--eps",
    "eps_list",
    type=ListOf(setting_type(ClusterSettings, "eps")),
    default="0.4,0.45,0.5,0.55,0.6",
    show_default=True,
    help="Comma-separated eps values to try.",
)
@click.option(
    "--min-samples",
    "ms_list",
    type=ListOf(setting_type(ClusterSettings, "min_samples")),
    default="1,2,3,5",
    show_default=True,
    help="Comma-separated min_samples values to try.",
)
@click.option("--top", type=click.IntRange(1), default=15, show_default=True, help="Rows to print.")
def tune(out, ground_truth, eps_list, ms_list, top) -> None:
    """Sweep clustering settings on a labelled run and print BCubed F1 for each.

    Uses the encodings already in OUT (nothing is re-encoded): person space (dlib, and the run's
    --encoder if another) x adapted or not x eps x min_samples x tracks on/off (with tracks:
    track split at the default --split-distance or off) x same-frame split on/off. The eps
    values are dlib's; other spaces try them scaled by their default radius over dlib's. The
    last rows, one per space, are what a run chooses with no ground truth (adapted or not, and
    the radius calibrated on the footage's tracks and frames), to compare with the best.

    \b
    Example:
      clusterpipe tune sample_out sample_ground_truth.json
    """
    from ..api import tune as api_tune

    rows = api_tune(out, ground_truth, eps_list, ms_list)
    click.echo(
        f"{'space':>7} {'adapt':>6} {'eps':>5} {'min_samples':>11} {'tracks':>6} {'split':>5} "
        f"{'split_distance':>14} {'clusters':>8} "
        f"{'noise':>6} {'bcubed_f1':>9} {'pairwise_f1':>11}"
    )
    grid = [r for r in rows if not r.calibrated]
    calibrated = [r for r in rows if r.calibrated]
    for i, r in enumerate(grid[:top] + calibrated):
        mark = "  <- best" if i == 0 else ""
        if r.calibrated:
            mark = "  <- calibrated (the run's own rule, no ground truth)"
        s = r.scores
        click.echo(
            f"{r.space:>7} {r.adapt:>6} {r.eps:>5.3g} {r.min_samples:>11} "
            f"{str(r.tracks):>6} "
            f"{str(r.split_same_frame):>5} {r.split_distance:>14.3g} "
            f"{s.clusters:>8} {s.noise_fraction:>6.3f} "
            f"{s.bcubed_f1:>9.4f} {s.pairwise_f1:>11.4f}{mark}"
        )
