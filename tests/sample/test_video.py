import cv2
import numpy as np
import pytest

from clusterpipe.errors import InputError
from clusterpipe.sample.video import ReadReport, fit_size, probe, resize_to_fit, sample_frames

from ..conftest import read_code


@pytest.mark.parametrize(
    "n, fps, sample_fps, expected",
    [
        (90, 30.0, 1.0, [0, 30, 60]),
        (100, 25.0, 1.0, [0, 25, 50, 75]),
        (60, 30.0, 2.0, [0, 15, 30, 45]),
        (120, 29.97, 1.0, [0, 30, 60, 90]),  # first frame at or after k s: ceil(k * 29.97)
        (50, 10.0, 0.5, [0, 20, 40]),
    ],
)
@pytest.mark.parametrize("decoder", ["pyav", "opencv"])
def test_samples_the_frame_at_each_timestamp(coded_video, n, fps, sample_fps, expected, decoder):
    path = coded_video(n=n, fps=fps)
    samples = list(sample_frames(str(path), sample_fps, decoder=decoder))
    assert [s.frame_index for s in samples] == expected
    # The decoded image really is that frame, not a neighbour.
    assert [read_code(s.image) for s in samples] == expected
    for s in samples:
        assert s.time_s == pytest.approx(s.frame_index / fps, abs=1e-3)
        k = round(s.time_s * sample_fps)
        assert s.time_s >= k / sample_fps - 1e-3 and s.time_s - k / sample_fps < 1 / fps


def test_keep_vetoes_decoding_and_report_counts_frames(coded_video):
    path = coded_video(n=150, fps=30.0)
    report = ReadReport()
    got = [s.frame_index for s in sample_frames(str(path), 1.0, report, keep=lambda t: t >= 2)]
    assert got == [60, 90, 120]
    assert report.frames_read == 150


@pytest.mark.parametrize("decoder", ["pyav", "opencv"])
def test_start_and_until_give_the_same_samples_as_a_full_pass(coded_video, decoder):
    path = str(coded_video(n=300, fps=30.0))
    full = [(s.frame_index, s.time_s) for s in sample_frames(path, 1.0, decoder=decoder)]
    report = ReadReport()
    part = [
        (s.frame_index, read_code(s.image), s.time_s)
        for s in sample_frames(
            path, 1.0, report, start_s=4.0, until=lambda t: t >= 7.0, decoder=decoder
        )
    ]
    assert [(i, t) for i, _, t in part] == [x for x in full if 4.0 <= x[1] < 7.0]
    assert all(i == code for i, code, _ in part)  # sought, yet the right frames
    assert report.stopped_early
    tail = ReadReport()
    tail_samples = sample_frames(path, 1.0, tail, start_s=8.0, decoder=decoder)
    assert [s.frame_index for s in tail_samples] == [240, 270]
    assert not tail.stopped_early


@pytest.mark.parametrize(
    "size, box, expected",
    [
        ((1920, 1080), (700, 500), (700, 394)),
        ((1280, 720), (700, 500), (700, 394)),
        ((400, 300), (700, 500), (400, 300)),  # never enlarged
        ((1000, 2000), (700, 500), (250, 500)),
        ((700, 500), (700, 500), (700, 500)),
        ((7680, 4320), (700, 500), (700, 394)),
    ],
)
def test_fit_size_keeps_aspect_and_never_enlarges(size, box, expected):
    assert fit_size(*size, *box) == expected


def test_resize_to_fit_returns_same_array_when_small():
    img = np.zeros((300, 400, 3), np.uint8)
    assert resize_to_fit(img, 700, 500) is img
    assert resize_to_fit(np.zeros((1080, 1920, 3), np.uint8), 700, 500).shape == (394, 700, 3)


def test_probe_reads_container_facts(coded_video):
    info = probe(coded_video(n=60, fps=30.0, size=(320, 180)))
    assert (info.width, info.height, info.fps, info.frame_count) == (320, 180, 30.0, 60)
    assert info.duration_s == pytest.approx(2.0)
    assert info.key.startswith("coded-")


def test_probe_key_is_stable_and_content_based(coded_video, tmp_path):
    a = probe(coded_video(n=30, name="a.mp4"))
    moved = tmp_path / "sub"
    moved.mkdir()
    (moved / "a.mp4").write_bytes((tmp_path / "a.mp4").read_bytes())
    assert probe(moved / "a.mp4").key == a.key


def _file(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.mp4", "no such file"),
        (lambda p: p, "is a directory"),
        (lambda p: _file(p / "empty.mp4", b""), "empty file"),
        (lambda p: _file(p / "t.mp4", b"hello, not a video"), "not a video"),
    ],
)
def test_probe_rejects_bad_input_clearly(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        probe(make(tmp_path))


def test_probe_rejects_an_image(tmp_path):
    path = tmp_path / "still.mp4"
    ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    path.write_bytes(buf.tobytes())
    with pytest.raises(InputError):
        probe(path)
