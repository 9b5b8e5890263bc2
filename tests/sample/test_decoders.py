"""Both decoders sample the same frames; pyav skips the frames no sample needs."""

import struct

import numpy as np
import pytest

from clusterpipe.config import EncodeSettings
from clusterpipe.errors import ClusterpipeError
from clusterpipe.sample.video import ReadReport, sample_frames

from ..conftest import BITS, coded_frame, read_code, write_mp4

# x264 with B-frames (some of them references, b-pyramid) and a long keyframe interval: the
# stream structure of real footage, where skipping non-reference frames pays.
X264 = {"preset": "veryfast", "x264-params": "bframes=3:b-pyramid=normal:keyint=120:scenecut=0"}


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    # 960 frames: more timestamps than the look-ahead keeps before folding them into a count.
    path = tmp_path_factory.mktemp("h264") / "b.mp4"
    return str(write_mp4(path, 960, 30, codec="libx264", codec_options=X264))


def sampled(path, decoder, fps=1.0, look=read_code, **kw):
    """(index, time, look(image)) of each sample, and the pass's report."""
    report = ReadReport()
    got = [
        (s.frame_index, s.time_s, look(s.image))
        for s in sample_frames(path, fps, report, decoder=decoder, **kw)
    ]
    return got, report


@pytest.mark.parametrize("fps", [1.0, 2.0, 0.3, 7.0])
def test_decoders_give_the_same_exact_frames(h264, fps):
    pyav, rep = sampled(h264, "pyav", fps)
    opencv, ref = sampled(h264, "opencv", fps)
    assert pyav == opencv
    assert [code for _, _, code in pyav] == [index for index, _, _ in pyav]  # the right frames
    expected = [min(i for i in range(960) if i / 30 + 1e-6 >= k / fps) for k in range(len(pyav))]
    assert [index for index, _, _ in pyav] == expected
    assert rep.frames_read == ref.frames_read == 960
    assert ref.frames_decoded == 960
    if fps <= 2:
        assert rep.frames_decoded < 0.8 * 960  # non-reference B-frames were skipped


def test_pyav_seek_start_and_until_match_a_full_pass(h264):
    full, _ = sampled(h264, "pyav")
    part, report = sampled(h264, "pyav", start_s=10.0, until=lambda t: t >= 20.0)
    assert part == [x for x in full if 10.0 <= x[1] < 20.0]
    assert report.stopped_early
    assert sampled(h264, "opencv", start_s=10.0, until=lambda t: t >= 20.0)[0] == part


def test_keep_veto_skips_decoding(h264):
    got, report = sampled(h264, "pyav", keep=lambda t: t >= 25.0)
    assert [i for i, _, _ in got] == [750, 780, 810, 840, 870, 900, 930]
    all_, full = sampled(h264, "pyav")
    assert report.frames_decoded < full.frames_decoded


def test_unknown_decoder_is_a_clear_error():
    with pytest.raises(ClusterpipeError, match="--decoder must be one of pyav, opencv"):
        EncodeSettings(decoder="gstreamer")


def _rotate_mp4(path, degrees: int):
    """Set the track header's display matrix, as phones do for video recorded sideways."""
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    v1 = data[i + 4] == 1
    # version/flags, times, track id, reserved, duration, reserved, layer..volume, reserved
    at = i + 4 + 4 + (20 if v1 else 12) + 4 + (8 if v1 else 4) + 8 + 8
    matrix = (cos, sin, 0, -sin, cos, 0, 0, 0, 0)
    data[at : at + 36] = struct.pack(">9i", *[x * 0x10000 for x in matrix[:8]], 0x40000000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_phone_video_is_turned_upright_like_opencv_does(tmp_path, degrees):
    path = write_mp4(tmp_path / "phone.mp4", 30, 10, size=(320, 180))
    _rotate_mp4(path, degrees)
    pyav = [s.image for s in sample_frames(str(path), 1.0, decoder="pyav")]
    opencv = [s.image for s in sample_frames(str(path), 1.0, decoder="opencv")]
    assert pyav[0].shape == ((180, 320, 3) if degrees == 180 else (320, 180, 3))
    assert len(pyav) == len(opencv) == 3
    assert all(np.array_equal(a, b) for a, b in zip(pyav, opencv))


@pytest.mark.parametrize(
    "name, codec",
    [("a.ts", "libx264"), ("a.mkv", "libx264"), ("a.mov", "libx264"), ("a.webm", "libvpx-vp9")],
)
def test_other_containers_and_codecs_sample_alike(tmp_path, name, codec):
    path = str(
        write_mp4(
            tmp_path / name,
            95,
            30,
            faststart=False,
            codec=codec,
            codec_options=X264 if codec == "libx264" else {},
        )
    )
    pyav, _ = sampled(path, "pyav")
    assert pyav == sampled(path, "opencv")[0]
    assert [(i, code) for i, _, code in pyav] == [(0, 0), (30, 30), (60, 60), (90, 90)]
    # Sought: MPEG-TS has no index, and its only keyframe here is the first frame.
    assert sampled(path, "pyav", start_s=2.0)[0] == pyav[2:]


def moving_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """A coded frame over content that moves, so every frame carries a real residual: a frame
    decoded from a wrong reference differs in its pixels, not only in its code."""
    w, h = size
    x = (np.arange(w)[None, :] + 3 * index) % 64
    y = (np.arange(h)[:, None] * 2 + index) % 48
    x, y = np.broadcast_arrays(x, y)
    img = np.dstack([x * 4 + y, y * 5, (x * y) % 256]).astype(np.uint8)
    img[: w // BITS] = coded_frame(index, size)[: w // BITS]
    return img


def _pixels(path, decoder, **kw):
    return sampled(path, decoder, look=np.ndarray.tobytes, **kw)


# (file, codec, options, whether its keyframes end every reference)
STREAMS = {
    "h264-short-gop": ("a.mp4", "libx264", "bframes=2:keyint=20:min-keyint=20:scenecut=0", True),
    "h264-baseline": ("a.mp4", "libx264", "bframes=0:keyint=45:min-keyint=45:scenecut=0", True),
    "h264-mpegts": ("a.ts", "libx264", "bframes=3:keyint=20:min-keyint=20:scenecut=0", True),
    "h264-open-gop": ("a.mkv", "libx264", "bframes=3:keyint=20:scenecut=0:open-gop=1", False),
    "hevc-closed": ("a.mp4", "libx265", "keyint=20:min-keyint=20:scenecut=0:open-gop=0", True),
    "hevc-open": ("a.mkv", "libx265", "keyint=20:min-keyint=20:scenecut=0:open-gop=1", False),
    "vp9": ("a.webm", "libvpx-vp9", None, True),
}


@pytest.mark.parametrize("kind", list(STREAMS))
def test_frames_after_a_groups_last_sample_are_dropped_exactly(tmp_path, kind):
    name, codec, params, closed = STREAMS[kind]
    if codec == "libx264":
        options = {"preset": "veryfast", "x264-params": params}
    elif codec == "libx265":
        options = {"preset": "ultrafast", "x265-params": f"{params}:log-level=error"}
    else:
        options = {"g": "20", "keyint_min": "20", "deadline": "realtime", "cpu-used": "8"}
    path = str(
        write_mp4(
            tmp_path / name,
            150,
            30,
            faststart=False,
            frame=moving_frame,
            codec=codec,
            codec_options=options,
        )
    )
    pyav, report = _pixels(path, "pyav")
    opencv, full = _pixels(path, "opencv")
    assert [x[:2] for x in pyav] == [(i, i / 30) for i in range(0, 150, 30)]
    assert pyav == opencv  # the same frames, pixel for pixel
    assert full.frames_decoded == report.frames_read == 150
    if closed:  # each sample needs at most the frames from its group's start
        assert report.frames_decoded <= 5 * 21
    assert report.last_time_s == pytest.approx(149 / 30, abs=1e-3)
    # Sought to a later start, and with a segment's end: the same frames.
    assert _pixels(path, "pyav", start_s=2.0, until=lambda t: t >= 4.0)[0] == pyav[2:4]


def test_held_packets_are_decoded_past_the_memory_bound(tmp_path, monkeypatch):
    from clusterpipe.sample import decoders

    options = {"preset": "veryfast", "x264-params": "keyint=90:min-keyint=90:scenecut=0"}
    path = str(
        write_mp4(
            tmp_path / "a.mp4", 150, 30, frame=moving_frame, codec="libx264", codec_options=options
        )
    )
    unbounded, report = _pixels(path, "pyav")
    monkeypatch.setattr(decoders, "MAX_HELD_BYTES", 1)
    bounded, tight = _pixels(path, "pyav")
    assert bounded == unbounded == _pixels(path, "opencv")[0]
    assert tight.frames_decoded > report.frames_decoded  # nothing was held to drop
