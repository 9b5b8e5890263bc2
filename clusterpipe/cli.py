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
from .config import (
    ADAPTED_EPS,
    ADAPTS,
    DECODERS,
    DETECTORS,
    DLIB_EPS,
    FAST_MIN_FACE,
    ClusterSettings,
    EncodeSettings,
    RunSettings,
    default_workers,
)
from .encoders import ENCODERS, Encoder
from .errors import ClusterpipeError
from .gallery import DEFAULT_THRESHOLD

# FFmpeg's own log lines ("moov atom not found") would duplicate our one-line errors.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
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
    "--fine-size",
    default=f"{_E.fine_width}x{_E.fine_height}" if _E.fine else "0",
    show_default=True,
    callback=lambda c, p, v: (0, 0) if v in ("0", "off") else _parse_size(c, p, v),
    help="A second, finer detection pass on the frame shrunk to fit WIDTHxHEIGHT finds "
    "faces too small for the --max-size pass (skipped for small videos); 0 = off.",
)
@click.option(
    "--fast",
    is_flag=True,
    help=f"Fast preset: --min-face {FAST_MIN_FACE} and no finer pass: about a quarter less CPU "
    "on 1080p; misses more faces under ~70 px wide (dev_hard detection recall 0.03 lower).",
)
@click.option(
    "--detector",
    type=click.Choice(DETECTORS),
    default=_E.detector,
    show_default=True,
    help="Face detector: mtcnn (MTCNN cascade on onnxruntime, finds small, rotated, blurred "
    "and dark faces), hog (dlib HOG) or cnn (dlib MMOD, about 40x slower on CPU).",
)
@click.option(
    "--min-face",
    type=click.IntRange(8, 1000),
    default=_E.min_face,
    show_default=True,
    help="mtcnn: smallest face searched for, in pixels of the --max-size frame; smaller "
    "finds smaller faces for more CPU.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=_E.min_score,
    show_default=True,
    help="mtcnn: score a face must reach (0-1); higher invents fewer faces (e.g. in "
    "subtitles) and misses more.",
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
    "--decoder",
    type=click.Choice(DECODERS),
    default=_E.decoder,
    show_default=True,
    help="Video decoder; both sample the same frames. pyav skips the frames no sample "
    "needs (about half the decoding CPU on H.264 with B-frames); opencv decodes every frame.",
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help=f"Encoder processes. Default: the number of cores ({default_workers()}).",
)
@click.option(
    "--encoder",
    type=click.Choice(ENCODERS),
    default=_E.encoder,
    show_default=True,
    help="Person space to cluster in: dlib (128-d, always in faces.jsonl) or facenet "
    "(FaceNet 512-d, also computed, kept in OUT/vectors.npy; about 0.6x dlib's CPU per face).",
)
@click.option(
    "--adapt",
    type=click.Choice(ADAPTS),
    default=_C.adapt,
    show_default=True,
    help="tracks: before clustering, whiten the person space by how faces vary within "
    "their tracks in this footage (unsupervised, per run); none: cluster as encoded.",
)
@click.option(
    "--eps",
    type=click.FloatRange(0, 2, min_open=True, max_open=True),
    default=None,
    help=f"DBSCAN radius; smaller splits people more. Default: the space's own, "
    f"{DLIB_EPS} for dlib, {Encoder.get('facenet').eps} for facenet, {ADAPTED_EPS} adapted.",
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
    "--tracks/--no-tracks",
    default=_C.tracks,
    show_default=True,
    help="Link a face across consecutive samples of one shot (overlapping boxes, close "
    "encodings, no cut between) and keep each track in one cluster.",
)
@click.option(
    "--split-distance",
    type=float,
    default=_C.split_distance,
    show_default=True,
    help="With --tracks: split a cluster made of two tight groups of tracks whose mean "
    "encodings are on average farther apart than this (look-alikes DBSCAN chained); 0 = off. "
    "Set for dlib; it scales with the default radius of other spaces.",
)
@click.option(
    "--assign-noise",
    is_flag=True,
    help="Attach each noise face to the cluster of its "
    "nearest clustered face when that is within --noise-threshold.",
)
@click.option(
    "--noise-threshold",
    type=float,
    default=_C.noise_threshold,
    show_default=True,
    help="With --assign-noise: largest distance at which a noise face is attached.",
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
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    default=None,
    help="A gallery made by `promote`: clusters whose faces mostly match a known "
    "person are written as clusters/<name>/ instead of Face_<k>.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help=f"With --gallery: largest distance that still counts as a match. Default: the "
    f"gallery's space's, {DEFAULT_THRESHOLD} for dlib, {Encoder.get('facenet').eps} for facenet.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: processes on this machine; dask: Dask "
    "distributed, one task per segment (pip install 'clusterpipe[dask]').",
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
    fps,
    max_size,
    fine_size,
    fast,
    detector,
    min_face,
    min_score,
    upsample,
    decoder,
    workers,
    encoder,
    adapt,
    eps,
    min_samples,
    split_same_frame,
    tracks,
    split_distance,
    assign_noise,
    noise_threshold,
    segment_seconds,
    fresh,
    no_progress,
    gallery,
    threshold,
    engine,
    address,
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
            fine_width=0 if fast else fine_size[0],
            fine_height=0 if fast else fine_size[1],
            detector=detector,
            min_face=max(min_face, FAST_MIN_FACE) if fast else min_face,
            min_score=min_score,
            upsample=upsample,
            decoder=decoder,
            encoder=encoder,
        ),
        cluster=ClusterSettings(
            eps=eps,
            min_samples=min_samples,
            split_same_frame=split_same_frame,
            tracks=tracks,
            split_distance=split_distance,
            assign_noise=assign_noise,
            noise_threshold=noise_threshold,
            adapt=adapt,
        ),
        workers=workers or default_workers(),
        segment_seconds=segment_seconds,
        fresh=fresh,
        progress=not no_progress,
        engine=engine,
        address=address,
    )
    out = out or Path(f"{Path(videos[0]).stem}_clusterpipe")
    with _progress_logging():
        res = api_run(videos, out, settings, gallery=gallery, threshold=threshold)
    if res.names:
        known = ", ".join(sorted(set(res.names.values())))
        click.echo(f"recognised from the gallery: {known}")
    click.echo(
        f"{res.faces} faces -> {res.clusters} clusters, {res.noise} noise in {res.wall_s:.1f} s; "
        f"open {res.out / 'report.html'}, rename folders in {res.out / 'clusters'} to name people"
    )
    for path, why in res.damaged.items():
        click.echo(f"damaged {path}: {_one_line(why)}", err=True)
    for path, why in res.failed.items():
        click.echo(f"skipped {path}: {_one_line(why)}", err=True)
    if res.failed or res.damaged:
        sys.exit(2)  # everything readable was processed and saved; the rest needs a look


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


@cli.command()
@click.argument("outs", nargs=-1, required=True, type=click.Path(path_type=Path))
def status(outs) -> None:
    """List named and unnamed folders of one or more runs, and anything odd.

    \b
    Example:
      clusterpipe status footage_out
    """
    from .people import status as api_status

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


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    required=True,
    help="Gallery folder (created if missing): a FAISS index plus gallery.json.",
)
def promote(out, gallery) -> None:
    """Add the faces of every named folder of OUT to a FAISS gallery.

    Idempotent: promoting the same run again adds nothing twice, and after a correction
    (crop moved or deleted, folder renamed) it updates the gallery to match the folders.

    \b
    Example:
      clusterpipe promote footage_out --gallery people
    """
    from .people import promote as api_promote

    res = api_promote(out, gallery)
    for name in sorted(set(res.added) | set(res.removed)):
        click.echo(f"  {name:30s} +{res.added.get(name, 0)} -{res.removed.get(name, 0)}")
    click.echo(f"gallery {gallery}: {res.total} faces")


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
    from .people import list_people, remove_person

    if remove:
        n = remove_person(gallery_dir, remove)
        click.echo(f"removed {remove} ({n} faces)")
    people = list_people(gallery_dir)
    for name, n in people.items():
        click.echo(f"{name:30s} {n:6d}")
    click.echo(f"{len(people)} people, {sum(people.values())} faces")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    required=True,
    help="Gallery folder made by `promote`.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Largest distance that still counts as a match; beyond it the face is `unknown`. "
    f"Default: the gallery's space's, {DEFAULT_THRESHOLD} for dlib, "
    f"{Encoder.get('facenet').eps} for facenet.",
)
@click.option(
    "--fps",
    type=float,
    default=_E.fps,
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
    from .people import identify as api_identify

    errors: dict[str, str] = {}
    for rec in api_identify(inputs, gallery, threshold, EncodeSettings(fps=fps), errors):
        if as_json:
            click.echo(json.dumps(rec))
        else:
            when = f" at {rec['time_s']:.1f} s" if rec["time_s"] is not None else ""
            click.echo(
                f"{rec['input']}{when} {rec['box']}: {rec['name']} (distance {rec['distance']:.3f})"
            )
    if errors:
        for path, why in errors.items():
            click.echo(f"skipped {path}: {_one_line(why)}", err=True)
        sys.exit(2)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yolo", "imagefolder", "coco"]),
    required=True,
    help="yolo: Ultralytics images/labels/data.yaml; imagefolder: "
    "torchvision ImageFolder; coco: COCO detection JSON.",
)
@click.option(
    "--val-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each video's 10 s time blocks put in the val split (0: no split).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the train/val split, so it can be reproduced.",
)
def export(out, dest, fmt, val_fraction, seed) -> None:
    """Write the named folders of OUT as a training dataset in DEST.

    \b
    Example:
      clusterpipe export footage_out dataset --format yolo
    """
    from .export import export as api_export

    res = api_export(out, dest, fmt, val_fraction, seed)
    counts = ", ".join(f"{k} {v}" for k, v in res["images"].items())
    click.echo(f"{fmt} dataset in {dest}: {len(res['classes'])} people, images: {counts}")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("ground_truth", type=click.Path(path_type=Path))
@click.option(
    "--eps",
    "eps_list",
    default="0.4,0.45,0.5,0.55,0.6",
    show_default=True,
    help="Comma-separated eps values to try.",
)
@click.option(
    "--min-samples",
    "ms_list",
    default="1,2,3,5",
    show_default=True,
    help="Comma-separated min_samples values to try.",
)
@click.option("--top", type=int, default=15, show_default=True, help="Rows to print.")
def tune(out, ground_truth, eps_list, ms_list, top) -> None:
    """Sweep clustering settings on a labelled run and print BCubed F1 for each.

    Uses the encodings already in OUT (nothing is re-encoded): person space (dlib, and the run's
    --encoder if another) x adapted or not x eps x min_samples x tracks on/off (with tracks:
    track split at the default --split-distance or off) x same-frame split on/off. The eps
    values are dlib's; other spaces try them scaled by their default radius over dlib's.

    \b
    Example:
      clusterpipe tune sample_out sample_ground_truth.json
    """
    from .api import tune as api_tune

    try:
        eps_values = [float(v) for v in eps_list.split(",")]
        ms_values = [int(v) for v in ms_list.split(",")]
    except ValueError:
        raise click.BadParameter("give comma-separated numbers, e.g. 0.45,0.5") from None
    rows = api_tune(out, ground_truth, eps_values, ms_values)
    click.echo(
        f"{'space':>7} {'adapt':>6} {'eps':>5} {'min_samples':>11} {'tracks':>6} {'split':>5} "
        f"{'split_distance':>14} {'clusters':>8} "
        f"{'noise':>6} {'bcubed_f1':>9} {'pairwise_f1':>11}"
    )
    for i, r in enumerate(rows[:top]):
        mark = "  <- best" if i == 0 else ""
        click.echo(
            f"{r['space']:>7} {r['adapt']:>6} {r['eps']:>5.3g} {r['min_samples']:>11} "
            f"{str(r['tracks']):>6} "
            f"{str(r['split_same_frame']):>5} {r['split_distance']:>14.3g} "
            f"{r['clusters']:>8} {r['noise_fraction']:>6.3f} "
            f"{r['bcubed_f1']:>9.4f} {r['pairwise_f1']:>11.4f}{mark}"
        )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="clusterpipe")
