"""`clusterpipe run`: its options come from the settings dataclasses (cli/options.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..config import (
    FAST_MIN_FACE,
    ClusterSettings,
    EncodeSettings,
    RunSettings,
    default_workers,
)
from .group import cli, on_interrupt, one_line, progress_logging, quiet
from .options import gallery_options, pop_settings, settings_options

_E = EncodeSettings()


def parse_size(ctx, param, value: str) -> tuple[int, int]:
    """WIDTHxHEIGHT, or 0 / off for (0, 0) where the option allows it."""
    if value in ("0", "off") and param.name == "fine_size":
        return 0, 0
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        return w, h
    except ValueError:
        raise click.BadParameter("give it as WIDTHxHEIGHT, e.g. 700x500") from None


@on_interrupt("finished shards are kept, run the same command again to resume")
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
    "--max-size",
    default=f"{_E.max_width}x{_E.max_height}",
    show_default=True,
    callback=parse_size,
    help="Each sampled frame is shrunk to fit WIDTHxHEIGHT "
    "(aspect kept, never enlarged) before detection.",
)
@click.option(
    "--fine-size",
    default=f"{_E.fine_width}x{_E.fine_height}" if _E.fine else "0",
    show_default=True,
    callback=parse_size,
    help="A second, finer detection pass on the frame shrunk to fit WIDTHxHEIGHT finds "
    "faces too small for the --max-size pass (skipped for small videos); 0 = off.",
)
@click.option(
    "--fast",
    is_flag=True,
    help=f"Fast preset: --min-face {FAST_MIN_FACE} and no finer pass: about a quarter less CPU "
    "on 1080p; misses more faces under ~70 px wide (dev_hard detection recall 0.03 lower).",
)
@settings_options(EncodeSettings)
@settings_options(ClusterSettings)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help=f"Encoder processes. Default: the number of cores ({default_workers()}).",
)
@settings_options(RunSettings)
@click.option(
    "--fresh",
    is_flag=True,
    help="Discard finished shards and generated folders of OUT and start over.",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars (-q hides them too).")
@gallery_options(
    "clusters whose faces mostly match a known person are written as clusters/<name>/ "
    "instead of Face_<k>."
)
@click.option(
    "--attach",
    is_flag=True,
    help="On an OUT with folders you named: new faces that look like a named person join "
    "that person's folder (without it they are only reported).",
)
@click.option(
    "--address",
    default=None,
    metavar="tcp://HOST:8786",
    help="With --engine dask: an existing scheduler; without it a LocalCluster of "
    "--workers processes is started.",
)
def run(
    videos,
    out,
    max_size,
    fine_size,
    fast,
    workers,
    fresh,
    no_progress,
    address,
    gallery,
    threshold,
    attach,
    **settings_options,
) -> None:
    """Sample VIDEOS, detect and encode faces, cluster them into per-person folders.

    \b
    Example:
      clusterpipe run footage.mp4 --out footage_out
    Writes OUT/faces.jsonl, OUT/clusters/Face_<k>/ (crops + YOLO labels), OUT/noise/,
    OUT/montages/, OUT/report.html and OUT/run.json.
    """
    from ..api import run as api_run

    kw = settings_options  # the options built from the settings dataclasses, by field name
    enc = pop_settings(EncodeSettings, kw)
    if fast:
        enc["min_face"] = max(enc["min_face"], FAST_MIN_FACE)
        fine_size = (0, 0)
    settings = RunSettings(
        encode=EncodeSettings(
            max_width=max_size[0],
            max_height=max_size[1],
            fine_width=fine_size[0],
            fine_height=fine_size[1],
            **enc,
        ),
        cluster=ClusterSettings(**pop_settings(ClusterSettings, kw)),
        workers=workers or default_workers(),
        fresh=fresh,
        progress=not (no_progress or quiet()),
        address=address,
        **pop_settings(RunSettings, kw),
    )
    out = out or Path(f"{Path(videos[0]).stem}_clusterpipe")
    with progress_logging():
        res = api_run(videos, out, settings, gallery=gallery, threshold=threshold, attach=attach)
    if res.names:
        known = ", ".join(sorted(set(res.names.values())))
        click.echo(f"recognised from the gallery: {known}")
    click.echo(
        f"{res.faces} faces -> {res.clusters} clusters, {res.noise} noise in {res.wall_s:.1f} s; "
        f"open {res.out / 'report.html'}, rename folders in {res.out / 'clusters'} to name people"
    )
    click.echo(
        f"to name and fix them on a page ('same person?' questions included): "
        f"clusterpipe review {shlex.quote(str(res.out))}"
    )
    for path, why in res.damaged.items():
        click.echo(f"damaged {path}: {one_line(why)}", err=True)
    for path, why in res.failed.items():
        click.echo(f"skipped {path}: {one_line(why)}", err=True)
    if res.failed or res.damaged:
        sys.exit(2)  # everything readable was processed and saved; the rest needs a look
