"""Bad input: a clear one-line error and a non-zero exit, never a traceback; nothing lost."""

import json
import os
import subprocess
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from clusterpipe.sample.video import sample_frames
from clusterpipe.store.lock import Lock

from .conftest import CLI, coded_frame, read_code, write_mp4

pytestmark = pytest.mark.slow  # the CLI end to end on damaged inputs


def clusterpipe(*args, cwd=None, timeout=300):
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def assert_clean_error(result, *needles, code=2):
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for n in needles:
        assert n in result.stderr, result.stderr


def sampled_times(out: Path) -> list[float]:
    return sorted(
        fr["time_s"]
        for p in out.glob("shards/*/*.json")
        for fr in json.loads(p.read_text())["frames"]
    )


def run_ok(video, out, *extra, code=0):
    result = clusterpipe("run", video, "--out", out, "--no-progress", "-j", "1", *extra)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert (Path(out) / "faces.jsonl").is_file()  # what was readable is saved
    return result


def test_truncated_faststart_mp4_keeps_every_second_before_the_cut(tmp_path):
    full = write_mp4(tmp_path / "full.mp4", 200, 10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    result = run_ok(cut, tmp_path / "o", code=2)
    assert "truncated or damaged" in result.stderr and "the rest was skipped" in result.stderr
    assert "damaged " in result.stderr and "read up to 9.6 s" in result.stderr
    times = sampled_times(tmp_path / "o")
    assert times[:9] == [float(k) for k in range(9)] and 8 <= len(times) < 20
    info = json.loads((tmp_path / "o" / "run.json").read_text())["inputs"][0]
    assert info["ended_early"] is True


def test_truncated_mp4_without_index_is_explained(tmp_path):
    full = write_mp4(tmp_path / "full.mp4", 100, 10, faststart=False)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert_clean_error(
        clusterpipe("run", cut, "--out", tmp_path / "o"), "truncated or unfinished MP4", "no index"
    )


def test_corrupt_bytes_in_the_middle_keep_what_precedes_and_report_the_rest(tmp_path):
    writer = cv2.VideoWriter(
        str(tmp_path / "c.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 180)
    )
    for i in range(200):
        writer.write(coded_frame(i, (320, 180)))
    writer.release()
    path = tmp_path / "c.avi"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 20000] = np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    result = run_ok(path, tmp_path / "o", code=2)
    times = sampled_times(tmp_path / "o")
    assert times[:9] == [float(k) for k in range(9)]  # every second before the damage
    assert "the rest was skipped" in result.stderr
    info = json.loads((tmp_path / "o" / "run.json").read_text())["inputs"][0]
    assert info["ended_early"] and info["skipped_s"] > 5


def test_audio_only_file(tmp_path):
    path = tmp_path / "voice.m4a"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(8000, np.int16).tobytes())
    assert_clean_error(clusterpipe("run", path, "--out", tmp_path / "o"), "voice.m4a:")


def test_one_by_one_video(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "px.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (1, 1))
    for _ in range(10):
        writer.write(np.zeros((1, 1, 3), np.uint8))
    writer.release()
    result = clusterpipe("run", tmp_path / "px.avi", "--out", tmp_path / "o", "--no-progress")
    assert result.returncode == 0 and "0 faces" in result.stdout, result.stderr
    assert "Traceback" not in result.stderr


def test_very_large_frames(tmp_path):
    size = (7680, 4320)
    path = write_mp4(
        tmp_path / "8k.mp4",
        3,
        1,
        size=size,
        frame=lambda i, s: np.full((s[1], s[0], 3), 60 + 40 * i, np.uint8),
    )
    run_ok(path, tmp_path / "o")
    shard = json.loads(next((tmp_path / "o").glob("shards/*/*.json")).read_text())
    assert shard["frames"][0]["size"] == [700, 394]  # shrunk before detection


@pytest.mark.parametrize("decoder", ["pyav", "opencv"])
def test_variable_frame_rate_is_sampled_by_timestamp(tmp_path, decoder):
    pts = [round(i * 1000 / 30) for i in range(90)] + [3000 + 200 * i for i in range(15)]
    path = write_mp4(tmp_path / "vfr.mp4", len(pts), 30, pts_ms=pts)
    samples = sample_frames(str(path), 1.0, decoder=decoder)
    got = [(s.frame_index, read_code(s.image), s.time_s) for s in samples]
    assert got == [
        (0, 0, 0.0),
        (30, 30, 1.0),
        (60, 60, 2.0),
        (90, 90, 3.0),
        (95, 95, 4.0),
        (100, 100, 5.0),
    ]


def test_absurd_container_fps_falls_back_to_timestamps(tmp_path):
    path = write_mp4(tmp_path / "f.mp4", 40, 10)
    data = bytearray(path.read_bytes())
    # Corrupt the media header's timescale: the container now reports a nonsense rate.
    mdhd = data.find(b"mdhd")
    data[mdhd + 16 : mdhd + 20] = (1).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    result = clusterpipe("run", path, "--out", tmp_path / "o", "--no-progress", "-j", "1")
    # Its timestamps now put frame 1 some 1000 s after frame 0, beyond what the container's
    # duration promises to be readable: what was read is kept and the rest reported, exit 2.
    assert_clean_error(result, "damaged", "f.mp4", "read up to 0.0 s")
    assert sampled_times(tmp_path / "o") == [0.0]


def test_paths_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "mes vidéos 名前"
    folder.mkdir()
    path = write_mp4(folder / "clip été.mp4", 30, 10)
    run_ok(path, folder / "sortie ü")
    assert (folder / "sortie ü" / "run.json").is_file()
    assert sampled_times(folder / "sortie ü") == [0.0, 1.0, 2.0]


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = write_mp4(tmp_path / "v.mp4", 20, 10)
    assert_clean_error(clusterpipe("run", path, "--out", blocker / "out"), "cannot write here")
    assert_clean_error(clusterpipe("run", path, "--out", blocker), "not a folder")


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tiny tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_full_disk_is_a_clear_error_and_keeps_finished_shards(tmp_path, tiny_fs, data_dir):
    photo = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    photo = cv2.resize(photo, (640, 360))
    path = write_mp4(tmp_path / "faces.mp4", 60, 2, size=(640, 360), frame=lambda i, s: photo)
    result = clusterpipe(
        "run", path, "--out", tiny_fs / "o", "--no-progress", "-j", "1", "--segment-seconds", "2"
    )
    assert_clean_error(result, "no space left")
    kept = list((tiny_fs / "o").glob("shards/*/*.json"))
    for shard in kept:  # whatever was written is complete JSON, never a partial shard
        json.loads(shard.read_text())
    assert not list((tiny_fs / "o").glob("shards/*/.*.tmp"))


def test_a_second_concurrent_run_refuses(tmp_path):
    path = write_mp4(tmp_path / "v.mp4", 20, 10)
    out = tmp_path / "o"
    with Lock(out):
        assert_clean_error(clusterpipe("run", path, "--out", out), "in use by another")


def test_identify_rejects_a_fake_image(tmp_path, data_dir):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    from clusterpipe.gallery.store import Gallery

    g = Gallery.open(tmp_path / "g", create=True)
    g.save()
    result = clusterpipe("identify", fake, "--gallery", tmp_path / "g")
    assert_clean_error(result, "photo.jpg: not an image")


def test_no_pickle_anywhere():
    root = Path(__file__).resolve().parents[1] / "clusterpipe"
    for src in root.rglob("*.py"):
        text = src.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, src
        assert "allow_pickle=True" not in text, src


def test_identify_on_a_truncated_video_lists_what_it_read_and_says_damaged(tmp_path):
    from clusterpipe.gallery.store import Gallery

    full = write_mp4(tmp_path / "full.mp4", 200, 10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    Gallery.open(tmp_path / "g", create=True).save()
    result = clusterpipe("identify", cut, "--gallery", tmp_path / "g")
    assert_clean_error(result, "cut.mp4: damaged or truncated: read up to 9.6 s")


def test_a_name_that_is_not_utf8_is_one_line_never_a_crash(tmp_path, data_dir):
    from clusterpipe.gallery.identify import identify
    from clusterpipe.gallery.store import Gallery

    photo = next((data_dir / "dev" / "photos" / "fr_obama").glob("*"))
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/x\xff.jpg"))
    odd.write_bytes(photo.read_bytes())
    video = Path(os.fsdecode(bytes(tmp_path) + b"/v\xff.mp4"))
    video.write_bytes(write_mp4(tmp_path / "v.mp4", 20, 10).read_bytes())
    Gallery.open(tmp_path / "g", create=True).save()
    for args in (["identify", odd, "--gallery", tmp_path / "g"], ["run", video, "--out", "o"]):
        r = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert_clean_error(r, "not valid UTF-8")
        assert r.stderr.count("\n") == 1
    errors: dict[str, str] = {}
    found = list(identify([odd, video], tmp_path / "g", errors=errors))  # found in a folder
    assert [f.name for f in found] == ["unknown"]  # the photo is read, whatever its name
    assert "not valid UTF-8" in errors[str(video)]
