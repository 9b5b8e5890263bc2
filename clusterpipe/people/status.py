"""The folders of one or more runs as the user left them: named and unnamed, and what is odd."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..store.files import read_faces
from ..store.folders import ClusterTree, scan
from ..store.layout import FACES_FILE
from ..store.lock import Lock
from ..store.records import Face
from ..store.runinfo import attach_vectors, read_run_info
from ..store.writing import interrupted
from .runview import require_run


@dataclass
class RunFolder:
    """One run's output folder as the user left it."""

    out: Path
    run_id: str
    faces: dict[str, Face]
    tree: ClusterTree
    encoder: str = "dlib"  # the person space the run clustered in

    @classmethod
    def load(cls, out: str | Path) -> RunFolder:
        out = Path(out)
        info = read_run_info(require_run(out))
        listed = read_faces(out / FACES_FILE)
        encoder = attach_vectors(out, listed)
        faces = {f.id: f for f in listed}
        run_id = info.run_id or str(out.resolve())
        return cls(out, run_id, faces, scan(out, set(faces)), encoder)

    def seen_together(self) -> list[str]:
        """A line for each named folder holding two faces of one frame: two people (unless
        one is a reflection or a picture of the other)."""
        lines = []
        for folder in self.tree.named:
            faces = [self.faces[i] for i in folder.face_ids]
            frames = Counter((f.video, f.frame_index) for f in faces)
            twice = sorted(k for k, n in frames.items() if n > 1)
            if twice:
                video, frame = twice[0]
                t = next(f.time_s for f in faces if (f.video, f.frame_index) == (video, frame))
                lines.append(
                    f"{self.out}: folder {folder.name!r} holds two faces of one frame in "
                    f"{len(twice)} frame(s) (first: {Path(video).name} at {t:.1f} s): two "
                    "people, unless one is a reflection or a picture; split it"
                )
        return lines

    def named_faces(self) -> Iterator[tuple[str, Face]]:
        """(person's name, face) for every crop in a named folder."""
        for folder in self.tree.named:
            for fid in folder.face_ids:
                yield folder.person, self.faces[fid]


@dataclass
class Status:
    """Named and unnamed folders of one or more runs, and everything odd."""

    runs: list[RunFolder]
    problems: list[str] = field(default_factory=list)
    shared_names: dict[str, list[str]] = field(default_factory=dict)


def status(outs: Sequence[str | Path]) -> Status:
    """Read the folders of each run and list what a user should look at."""
    runs = [RunFolder.load(o) for o in outs]
    st = Status(runs)
    by_name: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        t = r.tree
        st.problems += [f"{r.out}: file not mapped to a face: {p}" for p in t.unmapped]
        st.problems += [f"{r.out}: folder {n!r}: {why}" for n, why in t.bad_names.items()]
        st.problems += [f"{r.out}: symlink not followed: {p}" for p in t.skipped_links]
        st.problems += [
            f"{r.out}: face {i} is in two folders (copied, not moved)" for i in t.in_two_folders
        ]
        st.problems += r.seen_together()
        stopped = interrupted(r.out)
        if stopped and Lock.held(r.out):  # still running, not stopped
            st.problems.append(
                f"{r.out}: a `clusterpipe {stopped}` is writing the folders now; what is shown "
                "may change when it ends"
            )
        elif stopped:
            st.problems.append(
                f"{r.out}: the last `clusterpipe {stopped}` stopped while writing the folders; "
                "run it again to finish them"
            )
        spellings: dict[str, list[str]] = defaultdict(list)
        for f in t.named:
            by_name[f.person].add(str(r.out))
            spellings[f.person.casefold()].append(f.name)
            if not f.face_ids:
                st.problems.append(f"{r.out}: folder {f.name!r} is empty")
        for names in spellings.values():
            forms = {f.person for f in t.named if f.name in names}
            if len(names) > 1 and len(forms) == 1:  # the same name, two Unicode forms
                st.problems.append(
                    f"{r.out}: folders {' and '.join(map(ascii, sorted(names)))} are one name "
                    "written two ways (Unicode NFC and NFD, as Linux and macOS write it): one "
                    "person for promote and export; merge them into one folder"
                )
            elif len(names) > 1:  # promote keeps them apart: a name is case-sensitive
                st.problems.append(
                    f"{r.out}: folders {' and '.join(map(repr, sorted(names)))} differ only by "
                    "case: one folder on macOS and Windows, two people for promote; merge them"
                )
    st.shared_names = {n: sorted(o) for n, o in by_name.items() if len(o) > 1}
    cased: dict[str, list[str]] = defaultdict(list)
    for n in sorted(by_name):
        cased[n.casefold()].append(n)
    for names in cased.values():
        outs_ = sorted(set().union(*(by_name[n] for n in names)))
        if len(names) > 1 and len(outs_) > 1:  # within one run, said above
            st.problems.append(
                f"names {' and '.join(map(repr, names))} (in {', '.join(outs_)}) differ only "
                "by case: two people for promote; if one person, use one spelling"
            )
    return st
