"""The repair loop on small synthetic runs: split, recluster, corrections kept in files."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.errors import ClusterpipeError
from clusterpipe.people.repair import Corrections, recluster, split
from clusterpipe.store.files import read_faces, write_faces
from clusterpipe.store.runinfo import read_run_info

from ..fake_run import make_run


def _crops(out, folder) -> set[str]:
    return {p.stem for p in (out / "clusters" / folder).glob("*.jpg")}


def _as_written(out) -> None:
    """Make faces.jsonl and run.json say what the folders hold now, as clusterpipe writes them
    (the synthetic run numbers its clusters by person, not by folder)."""
    folders = sorted(p.name for p in (out / "clusters").iterdir())
    label = {f: int(f[5:]) if f.startswith("Face_") else 100 + k for k, f in enumerate(folders)}
    where = {p.stem: p.parent.name for p in out.glob("clusters/*/*.jpg")}
    records = read_faces(out / "faces.jsonl")
    for f in records:
        f.cluster = label[where[f.id]] if f.id in where else -1
    write_faces(out / "faces.jsonl", records)
    info = read_run_info(out)
    replace(info, folder_names={str(v): k for k, v in label.items()}).write(out)


def _merged_run(tmp_path):
    """A run whose clustering put two people (look-alikes bridged) into one folder."""
    out = tmp_path / "run"
    faces = make_run(out, {"Face_0": 6, "Face_1": 6})
    for p in (out / "clusters" / "Face_1").iterdir():
        p.rename(out / "clusters" / "Face_0" / p.name)
    (out / "clusters" / "Face_1").rmdir()
    _as_written(out)
    return out, {k: {f.id for f in v} for k, v in faces.items()}


def test_split_separates_two_people_of_one_folder(tmp_path):
    out, people = _merged_run(tmp_path)
    res = split(out, "Face_0")
    assert sorted(res.folders.values()) == [6, 6]
    assert not (out / "clusters" / "Face_0").exists()
    groups = [_crops(out, f) for f in res.folders]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, people.values()))
    assert all(f.startswith("Face_") and f not in ("Face_0",) for f in res.folders)
    # Remembered: a recluster never merges them back, even with a radius that would.
    recluster(out, eps=1.9)
    assert sorted(len(_crops(out, f.name)) for f in (out / "clusters").iterdir()) == [6, 6]
    # One group is one person: no split below the radius.
    with pytest.raises(ClusterpipeError, match="look like one person.*--into"):
        split(out, next(iter(res.folders)))


def test_split_into_k_and_the_cli_prints_the_folders(tmp_path):
    out, _ = _merged_run(tmp_path)
    result = CliRunner().invoke(cli, ["split", str(out), "Face_0", "--into", "3"])
    assert result.exit_code == 0, result.output
    sizes = [int(line.split()[1]) for line in result.output.splitlines()]
    assert len(sizes) == 3 and sum(sizes) == 12


def test_recluster_keeps_named_folders_and_obeys_a_move_and_a_delete(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 5, "Face_1": 6, "Face_2": 6})  # ids unique: equal pairs
    _as_written(out)
    alice = _crops(out, "alice")
    alice_files = sorted(p.name for p in (out / "clusters" / "alice").iterdir())
    face1 = sorted(_crops(out, "Face_1"))
    moved, deleted = face1[0], face1[1]
    for suffix in (".jpg", ".txt"):
        (out / "clusters" / "Face_1" / f"{moved}{suffix}").rename(
            out / "clusters" / "Face_2" / f"{moved}{suffix}"
        )
        (out / "clusters" / "Face_1" / f"{deleted}{suffix}").unlink()
    for _ in range(2):  # the corrections survive a second recluster
        res = recluster(out)
        assert sorted(p.name for p in (out / "clusters" / "alice").iterdir()) == alice_files
        assert _crops(out, "alice") == alice
        where = {p.stem: p.parent.name for p in out.glob("clusters/*/*.jpg")}
        where |= {p.stem: "noise" for p in out.glob("noise/*.jpg")}
        assert deleted not in where  # rejected: never comes back
        rest = set(face1) - {moved, deleted}
        assert len({where[i] for i in rest}) == 1  # still one person
        assert where[moved] != where[next(iter(rest))]  # never rejoins them
        assert res.folders  # the unnamed rest was re-clustered
    corr = Corrections.load(out)
    assert deleted in corr.rejected
    assert any(entry[0] == [moved] for entry in corr.apart)
    faces = {f.id: f for f in read_faces(out / "faces.jsonl")}
    assert faces[deleted].cluster == -1


def test_a_face_moved_out_of_a_folder_just_renamed_never_rejoins_it(tmp_path):
    """Rename Face_0 to ann, move one of her crops out: --attach must not put it back."""
    out = tmp_path / "run"
    make_run(out, {"Face_0": 6, "Face_1": 6})
    _as_written(out)
    clusters = out / "clusters"
    (clusters / "Face_0").rename(clusters / "ann")
    moved = sorted(_crops(out, "ann"))[0]
    for suffix in (".jpg", ".txt"):
        (clusters / "ann" / f"{moved}{suffix}").rename(clusters / "Face_1" / f"{moved}{suffix}")
    for _ in range(2):  # and after a second recluster, which rewrote the folders
        recluster(out, attach=True)
        assert moved not in _crops(out, "ann") and len(_crops(out, "ann")) == 5
    assert any(entry[0] == [moved] for entry in Corrections.load(out).apart)


@pytest.mark.parametrize("how", ["bad name", "nested"])
@pytest.mark.parametrize("command", [["recluster"], ["split", "{f}"]])
def test_faces_in_a_folder_the_scan_cannot_take_are_not_rejected(tmp_path, how, command):
    """`mv Face_1 ann` onto an existing ann nests it; `bob:2` is no name: their faces look
    deleted, so a repair that went on would reject them all. It refuses, changing nothing."""
    out = tmp_path / "run"
    make_run(out, {"ann": 4, "Face_1": 4})
    clusters = out / "clusters"
    target = clusters / "ann" / "Face_1" if how == "nested" else clusters / "bob:2"
    (clusters / "Face_1").rename(target)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    args = [a.format(f="ann") for a in command]
    result = CliRunner().invoke(cli, [*args[:1], str(out), *args[1:]])
    assert result.exit_code == 2, result.output
    assert "rename or move it first" in result.output
    after = sorted(p.relative_to(out) for p in out.rglob("*") if p.name != ".clusterpipe.lock")
    assert after == before
    assert not (out / "corrections.json").exists()


def test_recluster_keeps_the_numbers_of_unchanged_folders(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"Face_3": 4, "Face_7": 5})
    _as_written(out)
    res = recluster(out)
    assert res.folders == {"Face_3": 4, "Face_7": 5}
    run = json.loads((out / "run.json").read_text())
    assert run["folder_names"] == {"3": "Face_3", "7": "Face_7"}


def test_recluster_reports_an_unnamed_folder_that_looks_like_a_named_person(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 6})
    half = sorted(_crops(out, "alice"))[:3]
    (out / "clusters" / "Face_9").mkdir()
    for fid in half:
        for suffix in (".jpg", ".txt"):
            (out / "clusters" / "alice" / f"{fid}{suffix}").rename(
                out / "clusters" / "Face_9" / f"{fid}{suffix}"
            )
    _as_written(out)  # as if the run had put half of alice's faces apart
    result = CliRunner().invoke(cli, ["recluster", str(out), "--attach"])
    assert result.exit_code == 0, result.output
    assert "looks like alice" in result.output and "(attached)" in result.output
    assert len(_crops(out, "alice")) == 6


def test_a_damaged_corrections_file_is_one_line(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"Face_0": 3})
    (out / "corrections.json").write_text('{"rejected": ["../x"], "apart": []}')
    result = CliRunner().invoke(cli, ["recluster", str(out)])
    assert result.exit_code == 2 and "corrections.json: damaged" in result.output


def test_status_suggests_misplaced_crops_and_look_alikes(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 4, "bob": 4, "Face_5": 2})
    _as_written(out)
    stray = sorted(_crops(out, "bob"))[0]
    for suffix in (".jpg", ".txt"):  # one of bob's faces filed under alice
        (out / "clusters" / "bob" / f"{stray}{suffix}").rename(
            out / "clusters" / "alice" / f"{stray}{suffix}"
        )
    result = CliRunner().invoke(cli, ["status", str(out), "--suggest"])
    assert result.exit_code == 0, result.output
    assert f"alice/{stray}.jpg is nearer bob" in result.output
    assert result.output.count("is nearer") == 1  # only the stray one
    assert "Face_5 looks like" not in result.output  # a third person resembles nobody
    recluster(out)  # the report says the same
    report = (out / "report.html").read_text()
    assert "<h2>Suggestions</h2>" in report and f"alice/{stray}.jpg is nearer bob" in report


def test_split_keeps_tracks_whole_and_separates_look_alikes_a_track_bridged():
    import numpy as np

    from clusterpipe.people.repair import _split_faces

    rng = np.random.default_rng(0)
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 0.7  # two look-alikes, 0.7 apart
    faces = [a + rng.normal(0, 0.01, 128) for _ in range(9)] + [
        b + rng.normal(0, 0.01, 128) for _ in range(9)
    ]
    # A's third track drifts towards B (a turned head): DBSCAN at 0.5 would chain A and B
    # through it; its faces must still stay together, with A.
    for k, t in enumerate(np.linspace(0.1, 0.4, 3)):
        faces[6 + k] = a + rng.normal(0, 0.01, 128)
        faces[6 + k][0] = t
    x = np.array(faces)
    tracks = np.repeat(np.arange(6), 3)  # six tracks of three faces
    frames = [("v", i) for i in range(18)]
    sub = _split_faces(x, tracks, frames, 0.5, None)
    assert len(set(sub[:9].tolist())) == 1 and len(set(sub[9:].tolist())) == 1
    assert sub[0] != sub[9]


def _gallery_of(tmp_path, people):
    """A gallery promoted from a synthetic run of these people (seed 0, as make_run's)."""
    from clusterpipe.gallery.promote import promote

    src = tmp_path / "known"
    make_run(src, people, run_id="known")
    promote(src, tmp_path / "g")
    return tmp_path / "g"


def _moved(out, ids, src, dst) -> None:
    (out / "clusters" / dst).mkdir(exist_ok=True)
    for fid in ids:
        for suffix in (".jpg", ".txt"):
            (out / "clusters" / src / f"{fid}{suffix}").rename(
                out / "clusters" / dst / f"{fid}{suffix}"
            )


def test_recluster_with_a_gallery_names_the_people_it_knows(tmp_path):
    g = _gallery_of(tmp_path, {"alice": 4, "bob": 5})
    out = tmp_path / "run"
    make_run(out, {"alice": 4, "bob": 5}, run_id="new")
    bob = _crops(out, "bob")
    (out / "clusters" / "bob").rename(out / "clusters" / "Face_1")
    _as_written(out)
    assert recluster(out).from_gallery == {}  # without a gallery: Face_<n>
    assert _crops(out, "Face_1") == bob
    res = CliRunner().invoke(cli, ["recluster", str(out), "--gallery", str(g)])
    assert res.exit_code == 0, res.output
    assert "bob                                 5 faces recognised from the gallery" in res.output
    assert _crops(out, "bob") == bob and not (out / "clusters" / "Face_1").exists()
    assert _crops(out, "alice") == {p.stem for p in (tmp_path / "known/clusters/alice").iterdir()}
    assert "bob" in read_run_info(out).gallery_names.values()  # the gallery named it
    faces = {f.id: f for f in read_faces(out / "faces.jsonl")}
    assert {faces[i].cluster for i in bob} == {
        int(k) for k, v in read_run_info(out).folder_names.items() if v == "bob"
    }


@pytest.mark.parametrize("corrected", [False, True])
def test_a_gallery_joins_a_group_to_the_named_person_unless_kept_apart(tmp_path, corrected):
    from clusterpipe.gallery.identify import gallery_namer

    g = _gallery_of(tmp_path, {"alice": 4, "bob": 5})
    out = tmp_path / "run"
    make_run(out, {"alice": 4, "bob": 5}, run_id="new")
    bob = sorted(_crops(out, "bob"))
    _moved(out, bob[:2], "bob", "Face_1")
    if not corrected:
        _as_written(out)  # as clusterpipe wrote them: no correction, only a split-off piece
    res = recluster(out, namer=gallery_namer(g))
    if corrected:  # the user moved them out of bob: the gallery does not put them back
        assert res.from_gallery == {} and _crops(out, "bob") == set(bob[2:])
    else:
        assert res.from_gallery == {"bob": 2} and _crops(out, "bob") == set(bob)
        assert not (out / "clusters" / "Face_1").exists()


@pytest.mark.parametrize("corrected", [False, True])
def test_recluster_warns_of_the_folder_a_doubtful_group_joins_unless_kept_apart(
    tmp_path, caplog, corrected
):
    from clusterpipe.gallery.identify import Doubt, GroupNames

    out = tmp_path / "run"
    make_run(out, {"alice": 4, "bob": 5}, run_id="new")
    bob = sorted(_crops(out, "bob"))
    _moved(out, bob[:2], "bob", "Face_1")
    if not corrected:
        _as_written(out)

    def namer(groups, encoder):  # a gallery that names the piece bob, and doubts it
        key = next(k for k, fs in groups.items() if {f.id for f in fs} == set(bob[:2]))
        return GroupNames({key: "bob"}, {key: Doubt("carol", 2, 2)})

    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        recluster(out, namer=namer)
    said = "bob: named from the gallery, but 2 of the 2 faces put there look like carol"
    assert (said in caplog.text) is not corrected  # kept apart: nothing put in bob, no warning


def test_a_gallery_finds_the_users_folder_however_its_name_is_spelled(tmp_path):
    import unicodedata

    from clusterpipe.gallery.identify import gallery_namer

    nfc = unicodedata.normalize("NFC", "José")
    nfd = unicodedata.normalize("NFD", nfc)  # as macOS writes the folder's name
    g = _gallery_of(tmp_path, {nfc: 5, "zed": 4})
    out = tmp_path / "run"
    make_run(out, {nfc: 5, "zed": 4}, run_id="new")
    (out / "clusters" / nfc).rename(out / "clusters" / nfd)
    ids = sorted(_crops(out, nfd))
    _moved(out, ids[:2], nfd, "Face_7")
    _as_written(out)
    res = recluster(out, namer=gallery_namer(g))
    assert res.from_gallery == {nfd: 2} and _crops(out, nfd) == set(ids)
    assert sorted(p.name for p in (out / "clusters").iterdir()) == sorted([nfd, "zed"])


def test_groups_a_gallery_names_take_no_face_number(tmp_path):
    from clusterpipe.gallery.identify import gallery_namer
    from clusterpipe.gallery.promote import remove_person

    g = _gallery_of(tmp_path, {"alice": 4, "bob": 5})
    remove_person(g, "alice")  # the gallery knows bob only
    out = tmp_path / "run"
    make_run(out, {"alice": 4, "bob": 5}, run_id="new")
    alice, bob = sorted(_crops(out, "alice")), sorted(_crops(out, "bob"))
    for ids, folder, parts in (
        (alice, "alice", ("Face_0", "Face_3")),
        (bob, "bob", ("Face_1", "Face_2")),
    ):
        _moved(out, ids[:2], folder, parts[0])
        _moved(out, ids[2:], folder, parts[1])
        (out / "clusters" / folder).rmdir()
    _as_written(out)  # Face_0-3 are the run's: both people are new groups now
    res = recluster(out, namer=gallery_namer(g))
    assert res.from_gallery == {"bob": 5}
    # bob, the larger group, is named first: alice still gets the next number, not the one after
    assert sorted(p.name for p in (out / "clusters").iterdir()) == ["Face_4", "bob"]
    assert _crops(out, "Face_4") == set(alice) and res.folders == {"Face_4": 4}


def test_attach_never_puts_two_faces_of_one_frame_in_a_person(tmp_path):
    import numpy as np

    faces = make_run(tmp_path / "run", {"a": 4, "b": 4, "c": 4, "d": 4})
    out = tmp_path / "run"
    # c and d are seen together (same frames) and both look like a: one of them is not a
    centre = np.mean([f.encoding for f in faces["a"]], axis=0)
    rng = np.random.default_rng(5)
    u = rng.normal(size=128)
    u /= np.linalg.norm(u)
    records = read_faces(out / "faces.jsonl")
    sign = {f.id: 1 for f in faces["c"]} | {f.id: -1 for f in faces["d"]}
    for f in records:
        if f.id in sign:
            noise = rng.normal(scale=0.05 / np.sqrt(128), size=128)
            f.encoding = (centre + sign[f.id] * 0.3 * u + noise).round(6).tolist()
    write_faces(out / "faces.jsonl", records)
    for src, dst in (("a", "alice"), ("b", "Face_1"), ("c", "Face_2"), ("d", "Face_3")):
        (out / "clusters" / src).rename(out / "clusters" / dst)
    _as_written(out)
    res = recluster(out, attach=True)
    assert len(res.attached) == 1
    by_id = {f.id: f for f in read_faces(out / "faces.jsonl")}
    frames = [(by_id[i].video, by_id[i].frame_index) for i in _crops(out, "alice")]
    assert len(frames) == 8 and len(set(frames)) == 8


@pytest.mark.parametrize("args", [["split", "{p}", "Face_0"], ["recluster", "{p}"]])
@pytest.mark.parametrize("made", ["missing", "folder", "file"])
def test_repair_on_a_path_that_is_no_run_changes_nothing(tmp_path, args, made):
    """A mistyped OUT is a one-line error that leaves no folder or lock file behind."""
    path = tmp_path / "typo"
    if made == "folder":
        path.mkdir()
    elif made == "file":
        path.write_text("x")
    res = CliRunner().invoke(cli, [a.format(p=path) for a in args])
    assert res.exit_code == 2, res.output
    assert "no run.json" in res.output
    if made == "missing":
        assert not path.exists()
    elif made == "folder":
        assert list(path.iterdir()) == []


def _partition(out) -> set[frozenset[str]]:
    """The faces of each folder (and of noise), whatever the folders' numbers."""
    groups: dict[str, set[str]] = {}
    for p in [*out.glob("clusters/*/*.jpg"), *out.glob("noise/*.jpg")]:
        groups.setdefault(str(p.parent), set()).add(p.stem)
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("command", ["recluster", "split"])
def test_a_repair_stopped_halfway_through_its_moves_is_finished_not_corrected(
    tmp_path, monkeypatch, command
):
    import shutil

    from clusterpipe.store.outdir import OutDir

    out, _ = _merged_run(tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(out, reference)
    act = (lambda o: recluster(o)) if command == "recluster" else (lambda o: split(o, "Face_0"))
    act(reference)
    real, moves = OutDir.move, []

    def move_then_stop(self, fid, src, dst):
        if len(moves) == 3:
            raise KeyboardInterrupt
        moves.append(fid)
        real(self, fid, src, dst)

    monkeypatch.setattr(OutDir, "move", move_then_stop)
    with pytest.raises(KeyboardInterrupt):
        act(out)
    monkeypatch.setattr(OutDir, "move", real)
    before = Corrections.load(out)
    recluster(out)  # the next command reads the moves as clusterpipe's, not the user's
    assert Corrections.load(out).apart == before.apart and not Corrections.load(out).rejected
    assert not (out / ".clusterpipe-writing").exists()
    recluster(reference)
    assert _partition(out) == _partition(reference)


def test_split_into_k_overrides_a_same_person_answer_and_says_so(tmp_path, caplog):
    import logging

    out = tmp_path / "out"
    faces = make_run(out, {"Face_0": 4, "Face_1": 4})  # two people by their vectors
    ids = [f.id for fs in faces.values() for f in fs]
    corr = {"format": 1, "rejected": [], "apart": [], "together": [ids]}  # "same", answered
    (out / "corrections.json").write_text(json.dumps(corr))
    recluster(out)
    (folder,) = {p.name for p in (out / "clusters").iterdir()}
    with pytest.raises(ClusterpipeError, match='a "same person" answer in corrections.json'):
        split(out, folder)
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        res = split(out, folder, into=2)
    assert sorted(res.folders.values()) == [4, 4]
    assert 'against a "same person" answer: dropped' in caplog.text
    assert Corrections.load(out).together == []
    recluster(out)  # and the split holds
    assert sorted(len(list(p.glob("*.jpg"))) for p in (out / "clusters").iterdir()) == [4, 4]


def test_faces_moved_together_into_a_new_folder_stay_a_group_through_recluster(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"Face_0": 8})  # one folder, as clusterpipe wrote it
    _as_written(out)
    ids = [f.id for f in faces["Face_0"]]
    _moved(out, ids[:3], "Face_0", "Face_5")  # the user: these three are someone else
    (out / "noise").mkdir(exist_ok=True)  # ...and this one is no one
    for suffix in (".jpg", ".txt"):
        (out / "clusters/Face_0" / f"{ids[3]}{suffix}").rename(out / "noise" / f"{ids[3]}{suffix}")
    recluster(out)  # DBSCAN alone would put all eight back in one folder
    where = {p.stem: p.parent.name for p in out.glob("*/*/*.jpg")}
    where |= {p.stem: "noise" for p in (out / "noise").glob("*.jpg")}
    assert len({where[i] for i in ids[:3]}) == 1 and where[ids[0]] != "noise"
    assert where[ids[0]] not in {where[i] for i in ids[4:]}
    assert where[ids[3]] == "noise"
    entries = Corrections.load(out).apart
    assert sorted(len(e[0]) for e in entries) == [1, 3]  # one entry per destination
