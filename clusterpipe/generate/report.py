"""OUT/report.html: one static, self-contained page to review the clusters."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

from ..store.atomic import atomic_open
from ..store.layout import REPORT_FILE, UNNAMED_PREFIX, cluster_folder
from ..store.records import Face
from ..store.runinfo import RunInfo

MAX_NOISE_SHOWN = 300
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{margin:0 0 .2em}.muted{color:#666}.grid{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em;width:400px}
.card h2{font-size:1.05em;margin:.1em 0 .4em}.card img.montage{width:100%;height:auto}
.tl{margin:.3em 0}.tl svg{width:100%;height:14px;background:#eee}.tl rect{fill:#c0392b}
.noise img{width:72px;height:96px;object-fit:cover;margin:2px}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:left}.bar{height:10px;background:#2563eb;min-width:1px}
"""


def _timeline(times: list[float], duration: float) -> str:
    duration = max(duration, max(times, default=0) + 1, 1)
    marks = "".join(
        f'<rect x="{100 * t / duration:.3f}%" y="0" width="0.4%" height="14"/>' for t in times
    )
    return f'<svg role="img" aria-label="appearances">{marks}</svg>'


def render(faces: list[Face], run_info: RunInfo, names: dict[int, str] | None = None) -> str:
    """The report page as a string; links are relative to OUT."""
    names = names or {}
    clusters: dict[str, list[Face]] = defaultdict(list)
    noise = []
    for f in faces:
        if f.cluster >= 0:
            clusters[names.get(f.cluster) or cluster_folder(f.cluster)].append(f)
        else:
            noise.append(f)
    durations = {
        v.video.path: v.video.duration_s or (v.read.last_time_s if v.read else 0)
        for v in run_info.inputs
    }
    video_names = {v.video.path: Path(v.video.path).name for v in run_info.inputs}
    counts = run_info.counts
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>clusterpipe report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>clusterpipe report</h1>",
        f"<p class='muted'>{counts.get('faces', len(faces))} faces, {len(clusters)} clusters, "
        f"{len(noise)} noise. Name a person by renaming "
        f"<code>clusters/{UNNAMED_PREFIX}&lt;k&gt;</code>; "
        "fix mistakes by moving or deleting crops. Or do it on a page that asks "
        "&ldquo;same person?&rdquo;: <code>clusterpipe review OUT</code> (OUT: this "
        "report's folder).</p>",
        "<div class='grid'>",
    ]
    for folder in sorted(clusters, key=lambda c: (-len(clusters[c]), c)):
        members = clusters[folder]
        label = html.escape(folder)
        per_video: dict[str, list[float]] = defaultdict(list)
        for f in members:
            per_video[f.video].append(f.time_s)
        tls = "".join(
            f"<div class='tl'><span class='muted'>{html.escape(video_names.get(v, v))}: "
            f"{min(ts):.0f}-{max(ts):.0f} s</span>{_timeline(ts, durations.get(v, 0))}</div>"
            for v, ts in per_video.items()
        )
        parts.append(
            f"<div class='card' id='{label}'><h2>{label} &middot; {len(members)} faces</h2>"
            f"<a href='clusters/{quote(folder)}/'><img class='montage' loading='lazy' "
            f"alt='{label}' src='montages/{quote(folder)}.jpg'></a>{tls}</div>"
        )
    parts.append("</div>")
    suggestions = run_info.suggestions
    if suggestions:  # written by the repair loop: `clusterpipe status --suggest` says the same
        parts.append("<h2>Suggestions</h2><ul>")
        parts += [f"<li>{html.escape(str(line))}</li>" for line in suggestions]
        parts.append("</ul>")
    parts.append(f"<h2>Noise ({len(noise)} faces)</h2><div class='noise'>")
    for f in noise[:MAX_NOISE_SHOWN]:
        parts.append(
            f"<img loading='lazy' title='{html.escape(f.id)} at {f.time_s:.0f} s' "
            f"src='noise/{quote(f.id)}.jpg' alt='{html.escape(f.id)}'>"
        )
    if len(noise) > MAX_NOISE_SHOWN:
        parts.append(f"<p class='muted'>and {len(noise) - MAX_NOISE_SHOWN} more in noise/</p>")
    parts.append("</div>")
    parts += _person_space(run_info.person_space)
    parts += _stage_bars(run_info.times_s)
    parts.append("<h2>Run</h2><table>")
    for k, v in run_info.settings.items():
        parts.append(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
        )
    for k, v in run_info.times_s.items():
        parts.append(
            f"<tr><th>time {html.escape(str(k))}</th><td>{html.escape(str(v))} s</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


# Stages as run.json's times_s names them: wall seconds, then CPU seconds (all processes).
WALL_STAGES = {
    "detect_encode": "detection + encoding",
    "merge": "merge",
    "cluster": "clustering",
    "generate": "crops and montages",
    "report": "report",
}
CPU_STAGES = {
    "reader_cpu": "reader (decoding)",
    "detect_cpu": "detection",
    "detect_encode_cpu": "detection + encoding",
    "encoder_process_cpu": "encoder processes, all",
}


def _stage_bars(times: object) -> list[str]:
    """Where the time went: a bar per stage, wall clock and CPU, as run.json records them."""
    if not isinstance(times, dict):
        return []
    rows = []
    for kind, names in (("wall", WALL_STAGES), ("CPU", CPU_STAGES)):
        vals = {n: times[n] for n in names if isinstance(times.get(n), int | float)}
        top = max(vals.values(), default=0) or 1
        for n, v in vals.items():
            label = names[n]
            rows.append(
                f"<tr><th>{html.escape(kind)}: {html.escape(label)}</th><td>{v:.2f} s</td>"
                f"<td><div class='bar' style='width:{300 * v / top:.0f}px'></div></td></tr>"
            )
    if not rows:
        return []
    return ["<h2>Where the time went</h2><table class='stages'>", *rows, "</table>"]


def _person_space(choice: object) -> list[str]:
    """The space the run clustered in, why, its radius and the evidence (calibrate.py)."""
    if not isinstance(choice, dict) or not isinstance(choice.get("evidence"), dict):
        return []
    ev = choice["evidence"]
    esc = lambda v: html.escape(str(v))  # noqa: E731
    space = f"{esc(choice.get('encoder'))}{' adapted' if choice.get('adapted') else ', raw'}"
    rows = [
        ("space", f"{space}: {esc(choice.get('reason'))}"),
        ("radius", f"{esc(choice.get('radius'))} ({esc(choice.get('rule'))})"),
        ("tracks", f"{esc(ev.get('tracks'))} of 2+ faces, {esc(ev.get('track_pairs'))} pairs"),
        ("one person", f"within-track distances at 50/90/99 %: {esc(ev.get('track_quantiles'))}"),
        (
            "two people",
            f"{esc(ev.get('frame_pairs'))} same-frame pairs, distances at 1/10/50 %: "
            f"{esc(ev.get('frame_quantiles'))}",
        ),
        (
            "motion",
            f"shape change {esc(ev.get('shape_change'))} over {esc(ev.get('shape_tracks'))} tracks",
        ),
    ]
    out = ["<h2>Person space</h2><table>"]
    out += [f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows]
    return [*out, "</table>"]


def write_report(
    out: Path, faces: list[Face], run_info: RunInfo, names: dict[int, str] | None = None
) -> Path:
    """Write OUT/report.html atomically."""
    path = Path(out) / REPORT_FILE
    with atomic_open(path) as f:
        f.write(render(faces, run_info, names))
    return path
