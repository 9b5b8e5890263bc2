"""The repair loop: `split` a mixed folder, `recluster` the unnamed rest."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli
from .options import Finite, gallery_options


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("folder")
@click.option(
    "--into",
    type=click.IntRange(2, 100),
    default=None,
    help="Split into exactly K groups. Default: as many as the faces show (average linkage "
    "on track means, cut at the person space's radius; two faces of one frame never together).",
)
def split(out, folder, into) -> None:
    """Split FOLDER of OUT (named or not) into new unnamed folders Face_<n>.

    The groups are remembered as different people (OUT/corrections.json): a later recluster
    never merges them back.

    \b
    Example:
      clusterpipe split footage_out Face_3
    """
    from ..people.repair import split as api_split

    res = api_split(out, folder, into)
    for name, n in res.folders.items():
        click.echo(f"{name:30s} {n:6d} faces")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--eps",
    type=Finite(click.FloatRange(0, 2, min_open=True, max_open=True)),
    default=None,
    help="DBSCAN radius. Default: the run's person space's own (0.5 for dlib).",
)
@click.option(
    "--attach",
    is_flag=True,
    help="Move unnamed folders that look like a named person into that person's folder.",
)
@gallery_options(
    "new folders whose faces mostly match a known person go to clusters/<name>/ (that "
    "person's folder if you named one so) instead of Face_<k>."
)
def recluster(out, eps, attach, gallery, threshold) -> None:
    """Re-cluster the faces of OUT that are not in named folders.

    Named folders are never changed. Corrections shown by the files are remembered in
    OUT/corrections.json and obeyed: a deleted crop stays rejected, a crop moved out of a
    folder never rejoins the faces it was taken from. Folders whose faces did not change keep
    their number.

    \b
    Example:
      clusterpipe recluster footage_out
    """
    from ..gallery.identify import gallery_namer
    from ..people.repair import recluster as api_recluster

    if threshold is not None and gallery is None:
        raise click.UsageError("--threshold needs --gallery")
    namer = gallery_namer(gallery, threshold) if gallery is not None else None
    res = api_recluster(out, eps, attach, namer)
    for name, n in res.folders.items():
        click.echo(f"{name:30s} {n:6d} faces")
    for person, n in res.from_gallery.items():
        click.echo(f"{person:30s} {n:6d} faces recognised from the gallery")
    click.echo(f"noise: {res.noise} faces")
    for folder, person, d in res.looks_like:
        done = " (attached)" if folder in res.attached else ""
        click.echo(f"{folder} looks like {person} ({d:.2f}){done}")
