"""The repair loop, with the files as the truth: split a mixed folder, re-cluster the faces that
are not in named folders, and remember what the user corrected (OUT/corrections.json).

Corrections are derived from what the files show against what clusterpipe last wrote
(faces.jsonl): a crop deleted from every folder is rejected and never comes back; a crop moved
out of a folder is another person than the faces it was taken from; the groups a split made are
different people. Every later command obeys them, whatever the folders look like by then.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..cluster.clusterer import cluster_vectors
from ..cluster.dbscan import cannot_links, split_by_cannot_links, split_clusters
from ..errors import ClusterpipeError
from ..store.corrections import CORRECTIONS_FILE, Corrections
from ..store.files import write_faces
from ..store.folders import bad_folder_error, check_name, spelled_on_disk
from ..store.layout import CLUSTERS_DIR, FACES_FILE, is_unnamed
from ..store.outdir import NOISE, OutDir, is_folder, unnamed_number
from ..store.records import Face
from ..store.writing import done, interrupted, refuse_if_interrupted, writing
from .obey import apart, forget_together, together
from .runview import RunView, load_view, run_lock
from .suggest import look_alikes, suggest, suggestion_line

log = logging.getLogger("clusterpipe")

# Names groups of faces (in a run of this encoder) after known people: a gallery's name_groups
# (people/ does not import the gallery, which sits above it). A result with `doubts` (a
# gallery's GroupNames) has recluster warn of a folder that holds two known people.
Namer = Callable[[Mapping[str, Sequence[Face]], str], Mapping[str, str]]
NEW_GROUP = "\0new"  # the key of a group that is to get a new Face_<n> (no folder has a NUL)


def update_corrections(view: RunView, save: bool = True) -> Corrections:
    """The stored corrections plus what the files show changed since clusterpipe last wrote;
    saved unless `save` is False (a command that may still refuse saves them once it acts)."""
    if view.bad_names:  # its faces would look deleted, and be rejected
        raise bad_folder_error(view.out, view.bad_names)
    stopped = interrupted(view.out)
    if stopped == "run":
        refuse_if_interrupted(view.out)
    elif stopped:  # it only moved crops: the folders as they are now are what it wrote
        log.warning("%s: finishing the %s that stopped halfway", view.out, stopped)
        _write_back(view, dict(view.now))
        view.last = {fid: NOISE if w is None else w for fid, w in view.now.items()}
        done(view.out)
    corr = Corrections.load(view.out)
    home = _homes(view)
    stayed: dict[str, list[str]] = {}  # folder written -> its faces still at home
    for fid, where in view.now.items():
        was = view.last[fid]
        if where is not None and where == home.get(was):
            stayed.setdefault(was, []).append(fid)
    moved: dict[tuple[str, str], list[str]] = {}  # (folder written, folder now) -> faces
    for fid, where in view.now.items():
        was = view.last[fid]
        if where is None:
            corr.rejected.add(fid)
        elif fid in corr.rejected:
            corr.rejected.discard(fid)  # the user put the crop back
        elif was != NOISE and where != home.get(was) and stayed.get(was):
            moved.setdefault((was, fid if where == NOISE else where), []).append(fid)
    # Faces moved into one folder are one group (a person), apart from those that stayed; each
    # sent to noise is apart alone (noise is no one).
    for (was, _), ids in moved.items():
        corr.apart.append([ids, list(stayed[was])])
    if save and corr.worth_saving(view.out):
        corr.save(view.out)
    return corr


def _homes(view: RunView) -> dict[str, str]:
    """Each folder clusterpipe wrote -> the folder its faces are in now: itself while it holds
    any, else (renamed: Face_0 to Ann) the one holding most of them. A face elsewhere was
    moved away from the faces at home."""
    counts: dict[str, Counter] = {}
    for fid, where in view.now.items():
        if where is not None and where != NOISE:
            counts.setdefault(view.last[fid], Counter())[where] += 1
    return {
        was: was if was in c else c.most_common(1)[0][0]
        for was, c in counts.items()
        if was != NOISE
    }


def _taken(view: RunView) -> set[int]:
    """Face_<n> numbers in use now or written by the run (reserved)."""
    return OutDir.taken(view.now.values(), clusters=(f.cluster for f in view.faces))


def _write_back(
    view: RunView, where: dict[str, str | None], named_by_gallery: Sequence[str] = ()
) -> dict[str, int]:
    """Rewrite faces.jsonl, run.json's folder names, montages and report to match `where`
    (`named_by_gallery`: folders a gallery named now)."""
    from ..generate import folder_montage
    from ..generate.report import write_report

    folders = sorted({w for w in where.values() if w not in (None, NOISE)})
    unnamed = [f for f in folders if is_unnamed(f)]
    label = {f: unnamed_number(f) for f in unnamed}
    nxt = max(label.values(), default=-1) + 1
    for f in folders:
        if f not in label:
            label[f] = nxt
            nxt += 1
    for face in view.faces:
        w = where.get(face.id)
        face.cluster = label[w] if w not in (None, NOISE) else -1
        face.nearest = None
    write_faces(view.out / FACES_FILE, view.faces)
    names = {lab: f for f, lab in label.items() if not is_unnamed(f)}
    # Folders a gallery named keep that status under their new label (see api.run).
    gallery = set(view.info.gallery_names.values()) | set(named_by_gallery)
    info = replace(
        view.info,
        folder_names={str(lab): f for f, lab in label.items()},
        gallery_names={str(lab): f for f, lab in label.items() if f in gallery},
    )
    info.write(view.out)
    for f in folders:
        folder_montage(view.out, f)
    sug = suggest(view.out)
    info.suggestions = [suggestion_line(*m) for m in sug.misplaced] + [
        f"{folder} looks like {person} ({d:.2f})" for folder, person, d in sug.looks_like
    ]
    write_report(view.out, view.faces, info, names)
    return {f: sum(1 for w in where.values() if w == f) for f in folders}


@dataclass
class SplitResult:
    """The new folders a split made, and their sizes."""

    folders: dict[str, int]


def split(out: str | Path, folder: str, into: int | None = None) -> SplitResult:
    """Re-cluster the faces of one folder (named or not) into new Face_<n> folders."""
    out = Path(out)
    with run_lock(out):
        return split_locked(out, folder, into)


def split_locked(out: Path, folder: str, into: int | None = None) -> SplitResult:
    """split, for a caller that holds OUT's lock (the review page)."""
    view = load_view(out)
    corr = update_corrections(view, save=False)  # a split that refuses changes nothing
    ids = [fid for fid, w in view.now.items() if w == folder]
    if not ids:
        raise ClusterpipeError(f"{out / CLUSTERS_DIR / folder}: no faces of this run here")
    if into is not None and into > len(ids):
        raise ClusterpipeError(
            f"{folder}: {len(ids)} faces split into at most {len(ids)} groups, not {into}"
        )
    idx = np.array([view.by_id[i] for i in ids])
    # The run's own space and radius: adapted and calibrated where the run was, so that a
    # folder of look-alike relatives splits where the run's space tells them apart.
    x = view.space[idx]
    eps = view.radius
    split = _split_faces(x, view.tracks[idx], [view.frames[i] for i in idx], eps, into)
    if into is not None:  # asked for K people: newer than any "same person" answer about them
        forget_together(split, ids, corr, folder)
    sub = apart(together(split, ids, corr), ids, corr)
    groups = [list(np.array(ids)[sub == g]) for g in np.unique(sub)]
    if len(groups) < 2 and len(np.unique(split)) > 1:
        raise ClusterpipeError(
            f'{folder}: a "same person" answer in {CORRECTIONS_FILE} keeps its faces '
            "together; split it into K groups with --into K to override that answer"
        )
    if len(groups) < 2:
        raise ClusterpipeError(
            f"{folder}: its faces look like one person (no split below {eps:.2f}); "
            "split it into K groups anyway with --into K (on the review page: give K)"
        )
    taken = _taken(view)
    where = dict(view.now)
    made = {}
    od = OutDir(out)
    names = [od.new_unnamed(taken) for _ in groups]  # free in every form (folder, file, link)
    corr.apart.append([list(g) for g in groups])
    corr.save(out)
    with writing(out, "split"):
        for name, g in zip(names, sorted(groups, key=len, reverse=True)):
            for fid in g:
                od.move(fid, folder, name)
                where[fid] = name
            made[name] = len(g)
        od.remove_if_empty(folder)
        _write_back(view, where)
    return SplitResult(made)


def _split_faces(x, tracks, frames, eps: float, into: int | None) -> np.ndarray:
    """Groups of faces: average linkage on the mean of each track (a track is one person), cut
    at the space's radius or into `into` groups; then no group keeps two faces of one frame."""
    from scipy.cluster.hierarchy import fcluster, linkage

    _, unit = np.unique(tracks, return_inverse=True)
    n_units = unit.max() + 1
    means = np.zeros((n_units, x.shape[1]))
    np.add.at(means, unit, x)
    means /= np.bincount(unit)[:, None]
    if n_units == 1:
        lab = np.zeros(1, dtype=np.int64)
    else:
        tree = linkage(means, method="average")
        if into:
            lab = fcluster(tree, into, "maxclust") - 1
        else:
            lab = fcluster(tree, eps, "distance") - 1
    sub = np.asarray(lab)[unit]

    def by_frames(c, members):
        links = cannot_links(frames, x, members, tolerance=eps)
        return split_by_cannot_links(x[members], links)

    return split_clusters(sub, by_frames)


@dataclass
class ReclusterResult:
    """What recluster did: unnamed folders and their sizes, look-alikes of named people."""

    folders: dict[str, int]
    noise: int
    looks_like: list[tuple[str, str, float]]  # (unnamed folder, named folder, distance)
    attached: dict[str, str] = field(default_factory=dict)
    # person -> faces a gallery recognised and put in their folder
    from_gallery: dict[str, int] = field(default_factory=dict)


def recluster(
    out: str | Path, eps: float | None = None, attach: bool = False, namer: Namer | None = None
) -> ReclusterResult:
    """Re-cluster the faces that are not in named folders, obeying every correction. With
    `namer` (say a gallery's), the groups it recognises go to that person's folder."""
    out = Path(out)
    with run_lock(out):
        return recluster_locked(out, eps, attach, namer)


def _kept_apart(view: RunView, members: set[str], others: set[str], corr: Corrections) -> bool:
    """Whether a shared frame or a correction says `members` are not the person of `others`."""
    frames = {view.frames[view.by_id[i]] for i in others}
    if any(view.frames[view.by_id[i]] in frames for i in members):
        return True
    ids = [*sorted(members), *sorted(others)]
    return any(a < len(members) <= b for a, b in corr.links(ids))


def _person_folder(view: RunView, name: str) -> str:
    """The folder a known person's faces go to: the one the user named so, however its name is
    spelled (NFC or NFD, upper or lower case), else the name itself."""
    name = spelled_on_disk(view.out, name)
    if name in view.named:
        return name
    same = [w for w in view.named if w.casefold() == name.casefold()]
    return same[0] if len(same) == 1 else name


def _by_namer(
    view: RunView, made: dict[str, set[str]], namer: Namer, corr: Corrections
) -> tuple[dict[str, set[str]], dict[str, int]]:
    """The groups `namer` recognises go to that person's folder: the one the user named so
    (unless a correction or a shared frame keeps them apart) or a new one. Returns the groups
    and person -> faces recognised."""
    groups_of = {w: [view.faces[view.by_id[i]] for i in sorted(m)] for w, m in made.items()}
    known = namer(groups_of, view.encoder)
    person_faces: dict[str, set[str]] = {}
    for fid, w in view.now.items():
        if w in view.named:
            person_faces.setdefault(w, set()).add(fid)
    groups: dict[str, set[str]] = {}
    recognised: dict[str, int] = {}
    for folder, members in made.items():
        person = known.get(folder)
        what = f"a new group of {len(members)} faces" if folder.startswith(NEW_GROUP) else folder
        try:
            person = _person_folder(view, check_name(person)) if person is not None else None
        except ClusterpipeError as e:
            log.warning("%s: the gallery's name is not a folder name (%s)", what, e)
            person = None
        if person is not None and not is_unnamed(person):
            others = person_faces.get(person, set()) | groups.get(person, set())
            if not _kept_apart(view, members, others, corr):
                groups.setdefault(person, set()).update(members)
                recognised[person] = recognised.get(person, 0) + len(members)
                doubt = getattr(known, "doubts", {}).get(folder)  # a gallery's namer says
                if doubt is not None:
                    log.warning(doubt.says(person))
                continue
            log.info("%s looks like %s to the gallery, but is kept apart", what, person)
        groups[folder] = set(members)
    return groups, recognised


def recluster_locked(
    out: Path, eps: float | None, attach: bool, namer: Namer | None = None
) -> ReclusterResult:
    """recluster, for a caller that holds OUT's lock (run on a folder with named people)."""
    view = load_view(out)
    corr = update_corrections(view, save=False)  # saved once nothing can refuse any more
    free_ids = [
        f.id
        for f in view.faces
        if view.now[f.id] not in view.named
        and view.now[f.id] is not None
        and f.id not in corr.rejected
    ]
    # The run's settings (run.json) in the run's space: recluster clusters as the run did.
    space = view.person_space(eps)
    settings = space.settings
    idx = np.array([view.by_id[i] for i in free_ids], dtype=np.int64)
    labels = np.zeros(0, dtype=np.int64)
    if len(idx):
        frames = [view.frames[i] for i in idx]
        labels = cluster_vectors(space.vectors[idx], frames, view.tracks[idx], settings)
        labels = apart(together(labels, free_ids, corr), free_ids, corr)
    groups = {int(c): {free_ids[k] for k in np.flatnonzero(labels == c)} for c in np.unique(labels)}
    noise = groups.pop(-1, set())
    # A folder whose membership did not change keeps its number; the rest get new ones.
    before: dict[str, set[str]] = {}
    for fid in free_ids:
        w = view.now[fid]
        if is_folder(w):
            before.setdefault(w, set()).add(fid)
    numbers = {frozenset(v): k for k, v in before.items()}
    taken = _taken(view)
    where = dict(view.now)
    made: dict[str, set[str]] = {}
    od = OutDir(out)
    for k, members in enumerate(sorted(groups.values(), key=len, reverse=True)):
        made[numbers.get(frozenset(members)) or f"{NEW_GROUP}{k}"] = members
    from_gallery: dict[str, int] = {}
    if namer is not None and made:
        made, from_gallery = _by_namer(view, made, namer, corr)
    # Numbered once the gallery has named its groups: no Face_<n> is skipped for them.
    made = {od.new_unnamed(taken) if w.startswith(NEW_GROUP) else w: m for w, m in made.items()}
    od.check_targets([*made, *([NOISE] if noise else [])])
    if corr.worth_saving(out):
        corr.save(out)
    with writing(out, "recluster"):
        for name, members in made.items():
            for fid in members:
                od.move(fid, view.now[fid], name)
                where[fid] = name
        for fid in noise:
            od.move(fid, view.now[fid], NOISE)
            where[fid] = NOISE
        unnamed_made = {w: m for w, m in made.items() if is_unnamed(w)}
        # Faces that join a named person now: a look-alike must not clash with them either.
        joined = {w: set(m) for w, m in made.items() if w in view.named}
        looks = [
            look
            for look in look_alikes(view, unnamed_made, settings.radius, corr)
            if not _kept_apart(view, made[look[0]], joined.get(look[1], set()), corr)
        ]
        attached: dict[str, str] = {}
        if attach:
            for unnamed_folder, person, _ in looks:
                if _kept_apart(view, made[unnamed_folder], joined.get(person, set()), corr):
                    continue  # another look-alike joined them first, in the same frames
                for fid in made[unnamed_folder]:
                    od.move(fid, unnamed_folder, person)
                    where[fid] = person
                joined.setdefault(person, set()).update(made[unnamed_folder])
                attached[unnamed_folder] = person
        for w in set(before) | set(made):
            od.remove_if_empty(w)
        new_people = set(from_gallery) - view.named
        sizes = _write_back(view, where, sorted(new_people))
    folders = {f: n for f, n in sizes.items() if is_unnamed(f)}
    return ReclusterResult(folders, len(noise), looks, attached, from_gallery)
