"""The human loop: `status`, `promote`, `gallery`, `identify`, `export`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import click

from ..config import EncodeSettings, ExportSettings, IndexSettings
from ..export.base import Exporter
from .group import cli, one_line
from .options import setting_type, settings_options, threshold_option


@cli.command()
@click.argument("outs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--suggest",
    is_flag=True,
    help="Also list likely mistakes: crops in a named folder that sit closer to another named "
    "person than to their own, and unnamed folders that look like a named person.",
)
def status(outs, suggest) -> None:
    """List named and unnamed folders of one or more runs, and anything odd.

    \b
    Example:
      clusterpipe status footage_out --suggest
    """
    from ..people.status import status as api_status

    st = api_status(outs)
    for r in st.runs:
        named, unnamed = r.tree.named, [f for f in r.tree.folders if not f.named]
        click.echo(f"{r.out}: {len(named)} named, {len(unnamed)} unnamed folders")
        for f in named:
            click.echo(f"  {f.name:30s} {len(f.face_ids):6d} faces")
        for f in unnamed:
            click.echo(f"  {f.name:30s} {len(f.face_ids):6d} faces  (unnamed)")
    for name, outs_ in st.shared_names.items():
        click.echo(
            f"note: {name!r} is named in {len(outs_)} runs ({', '.join(outs_)}); "
            "promote merges them into one person"
        )
    for p in st.problems:
        click.echo(f"problem: {p}")
    if suggest:
        from ..people.repair import suggest as api_suggest
        from ..people.repair import suggestion_line

        for out in outs:
            sug = api_suggest(out)
            for m in sug.misplaced:
                click.echo(f"suggest: {out}: {suggestion_line(*m)}")
            for folder, person, d in sug.looks_like:
                click.echo(f"suggest: {out}: {folder} looks like {person} ({d:.2f})")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    required=True,
    help="Gallery folder (created if missing): a FAISS index, the exact vectors and gallery.json.",
)
@settings_options(IndexSettings)
def promote(out, gallery, **index_options) -> None:
    """Add the faces of every named folder of OUT to a FAISS gallery.

    Idempotent: promoting the same run again adds nothing twice, and after a correction
    (crop moved or deleted, folder renamed) it updates the gallery to match the folders.

    The gallery remembers its index options: given once, later promotes keep them, and a
    promote that gives them rebuilds the index. gallery.json records the index chosen, its
    size and the recall it measured against exact search.

    \b
    Examples:
      clusterpipe promote footage_out --gallery people
      clusterpipe promote archive_out --gallery people --max-index-memory 2GB --max-query-ms 5
    """
    from click.core import ParameterSource

    from ..gallery.promote import gallery_settings
    from ..gallery.promote import promote as api_promote

    ctx = click.get_current_context()
    given = {
        k: v
        for k, v in index_options.items()
        if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT
    }
    index = replace(gallery_settings(gallery), **given) if given else None
    res = api_promote(out, gallery, index)
    for name in sorted(set(res.added) | set(res.removed)):
        click.echo(f"  {name:30s} +{res.added.get(name, 0)} -{res.removed.get(name, 0)}")
    click.echo(f"gallery {gallery}: {res.total} faces; index: {res.plan.summary()}")


@cli.command("gallery")
@click.argument("gallery_dir", type=click.Path(path_type=Path))
@click.option(
    "--remove",
    "remove",
    metavar="NAME",
    default=None,
    help="Take this person (all their faces) out of the gallery.",
)
def gallery_cmd(gallery_dir, remove) -> None:
    """List the people in a gallery and their face counts.

    \b
    Example:
      clusterpipe gallery people
      clusterpipe gallery people --remove alice
    """
    from ..gallery.promote import gallery_info, remove_person

    if remove is not None:  # an empty name is an error (check_name), not a listing
        n = remove_person(gallery_dir, remove)
        click.echo(f"removed {remove} ({n} faces)")
    info = gallery_info(gallery_dir)
    for name, n in info.people.items():
        click.echo(f"{name:30s} {n:6d}")
    click.echo(f"{len(info.people)} people, {sum(info.people.values())} faces")
    click.echo(f"index: {info.plan.summary()}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    required=True,
    help="Gallery folder made by `promote`.",
)
@threshold_option("Largest distance that still counts as a match; beyond it the face is `unknown`.")
@click.option(
    "--fps",
    type=setting_type(EncodeSettings, "fps"),
    default=EncodeSettings.fps,
    show_default=True,
    help="For videos: frames sampled per second.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per face per line.")
def identify(inputs, gallery, threshold, fps, as_json) -> None:
    """Recognise the faces in images and videos against a gallery.

    \b
    Example:
      clusterpipe identify photo.jpg clip.mp4 --gallery people
    """
    from ..gallery.identify import identify as api_identify

    errors: dict[str, str] = {}
    for rec in api_identify(inputs, gallery, threshold, EncodeSettings(fps=fps), errors):
        if as_json:
            click.echo(json.dumps(rec.to_json(), allow_nan=False))
        else:
            when = f" at {rec.time_s:.1f} s" if rec.time_s is not None else ""
            far = f"distance {rec.distance:.3f}" if rec.nearest else "the gallery is empty"
            click.echo(f"{rec.input}{when} {rec.box}: {rec.name} ({far})")
    if errors:
        for path, why in errors.items():
            click.echo(f"skipped {path}: {one_line(why)}", err=True)
        sys.exit(2)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(Exporter.registry)),
    required=True,
    help="yolo: Ultralytics images/labels/data.yaml; imagefolder: "
    "torchvision ImageFolder; coco: COCO detection JSON.",
)
@settings_options(ExportSettings)
def export(out, dest, fmt, **options) -> None:
    """Write the named folders of OUT as a training dataset in DEST.

    \b
    Example:
      clusterpipe export footage_out dataset --format yolo
    """
    from ..export import export as api_export

    settings = ExportSettings(**options)
    res = api_export(out, dest, fmt, **asdict(settings))
    val_fraction, min_faces = settings.val_fraction, settings.min_faces
    counts = ", ".join(f"{k} {v}" for k, v in res.images.items())
    extra = " (+ the class `face`)" if len(res.classes) > len(res.people) else ""
    click.echo(f"{fmt} dataset in {dest}: {len(res.people)} people{extra}, images: {counts}")
    click.echo(
        f"near-duplicate pairs: {res.near_duplicate_pairs}, "
        f"across train and val: {res.near_duplicates_across_split}; card: {dest}/README.md"
    )
    if val_fraction > 0:
        click.echo(f"val fraction: {res.val_fraction:.2f} (asked {val_fraction:.2f})")
        if abs(res.val_fraction - val_fraction) > 0.1:
            click.echo(
                "warning: the val fraction is far from the one asked: the shots are few or "
                "long; export more footage or change --val-fraction",
                err=True,
            )
    if res.train_only:
        who = ", ".join(res.train_only)
        click.echo(f"in train only (seen in one shot): {who}", err=True)
    for name, share in res.class_val_share_off.items():
        click.echo(
            f"warning: {name}: {share:.2f} of its images in val (asked {val_fraction:.2f}); "
            "its shots are few or uneven",
            err=True,
        )
    if res.too_few_faces:
        click.echo(f"left out (fewer than {min_faces} faces): {', '.join(res.too_few_faces)}")
