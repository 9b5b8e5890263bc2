"""The command line: a thin click layer over clusterpipe.api."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import DETECTORS, ClusterSettings, EncodeSettings, RunSettings, default_workers
from .errors import ClusterpipeError

log = logging.getLogger("clusterpipe")
DEBUG = os.environ.get("CLUSTERPIPE_DEBUG") == "1"
_E, _C = EncodeSettings(), ClusterSettings()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Group(click.Group):
    """Maps errors to exit codes: ClusterpipeError 2, Ctrl-C 1; tracebacks only when debugging."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted; finished shards are kept, run again to resume.", err=True)
            ctx.exit(1)
        except ClusterpipeError as e:
            if DEBUG:
                raise
            click.echo(f"Error: {_one_line(e)}", err=True)
            ctx.exit(2)
        except OSError as e:
            if DEBUG:
                raise
            click.echo(f"Error: {_one_line(e)}", err=True)
            ctx.exit(2)
        except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
            if DEBUG:
                raise
            click.echo(
                f"Error: unexpected {type(e).__name__}: {_one_line(e)} (run with "
                "CLUSTERPIPE_DEBUG=1 for the traceback and report it)",
                err=True,
            )
            ctx.exit(3)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


@contextlib.contextmanager
def _progress_logging():
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[log]):
        yield


def _parse_size(ctx, param, value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        return w, h
    except ValueError:
        raise click.BadParameter("give it as WIDTHxHEIGHT, e.g. 700x500") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clusterpipe")
@click.option("-v", "--verbose", count=True, help="More log output (debug details).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Turn video footage into folders of faces, one folder per person.

    Set CLUSTERPIPE_DEBUG=1 to see tracebacks. Exit codes: 0 ok, 1 interrupted, 2 bad input
    or state (the message says what to do), 3 internal error.
    """
    _setup_logging(verbose, quiet)


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder. Default: ./<first video name>_clusterpipe. Running again on "
    "the same folder resumes: finished shards are reused.",
)
@click.option(
    "--fps",
    type=float,
    default=_E.fps,
    show_default=True,
    help="Frames sampled per second of video, by timestamp.",
)
@click.option(
    "--max-size",
    default=f"{_E.max_width}x{_E.max_height}",
    show_default=True,
    callback=_parse_size,
    help="Each sampled frame is shrunk to fit WIDTHxHEIGHT "
    "(aspect kept, never enlarged) before detection.",
)
@click.option(
    "--detector",
    type=click.Choice(DETECTORS),
    default=_E.detector,
    show_default=True,
    help="Face detector: hog (fast, CPU) or cnn (dlib MMOD, more robust, about 10x slower on CPU).",
)
@click.option(
    "--upsample",
    type=click.IntRange(0, 3),
    default=_E.upsample,
    show_default=True,
    help="Times the detector upsamples the frame; each step finds smaller faces and "
    "costs about 4x the time.",
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help=f"Encoder processes. Default: the number of cores ({default_workers()}).",
)
@click.option(
    "--eps",
    type=float,
    default=_C.eps,
    show_default=True,
    help="DBSCAN radius in 128-d encoding space; smaller splits people more.",
)
@click.option(
    "--min-samples",
    type=click.IntRange(1),
    default=_C.min_samples,
    show_default=True,
    help="DBSCAN: faces needed to found a cluster; fewer leaves "
    "less noise, more makes clusters stricter.",
)
@click.option(
    "--split-same-frame/--no-split-same-frame",
    default=_C.split_same_frame,
    show_default=True,
    help="Split a cluster that holds two clearly different faces "
    "of one frame (two faces in one frame are almost always two people).",
)
@click.option(
    "--segment-seconds",
    type=float,
    default=RunSettings.segment_seconds,
    show_default=True,
    help="Seconds of video per JSON shard, the unit of resume.",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Discard finished shards and generated folders of OUT and start over.",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def run(
    videos,
    out,
    fps,
    max_size,
    detector,
    upsample,
    workers,
    eps,
    min_samples,
    split_same_frame,
    segment_seconds,
    fresh,
    no_progress,
) -> None:
    """Sample VIDEOS, detect and encode faces, cluster them into per-person folders.

    \b
    Example:
      clusterpipe run footage.mp4 --out footage_out
    Writes OUT/faces.jsonl, OUT/clusters/Face_<k>/ (crops + YOLO labels), OUT/noise/,
    OUT/montages/, OUT/report.html and OUT/run.json.
    """
    from .api import run as api_run

    settings = RunSettings(
        encode=EncodeSettings(
            fps=fps,
            max_width=max_size[0],
            max_height=max_size[1],
            detector=detector,
            upsample=upsample,
        ),
        cluster=ClusterSettings(
            eps=eps, min_samples=min_samples, split_same_frame=split_same_frame
        ),
        workers=workers or default_workers(),
        segment_seconds=segment_seconds,
        fresh=fresh,
        progress=not no_progress,
    )
    out = out or Path(f"{Path(videos[0]).stem}_clusterpipe")
    with _progress_logging():
        res = api_run(videos, out, settings)
    click.echo(
        f"{res.faces} faces -> {res.clusters} clusters, {res.noise} noise in {res.wall_s:.1f} s; "
        f"open {res.out / 'report.html'}, rename folders in {res.out / 'clusters'} to name people"
    )
    if res.failed:
        for path, why in res.failed.items():
            click.echo(f"skipped {path}: {_one_line(why)}", err=True)
        sys.exit(2)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("ground_truth", type=click.Path(path_type=Path))
@click.option(
    "--iou",
    type=float,
    default=0.3,
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
    from .api import evaluate_run

    res = evaluate_run(out, ground_truth, iou)
    if as_json:
        click.echo(json.dumps(res))
        return
    for k, v in res.items():
        click.echo(f"{k:22s} {v:.4f}" if isinstance(v, float) else f"{k:22s} {v}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="clusterpipe")
