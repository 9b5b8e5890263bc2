"""Both decoders sample the same frames; pyav skips the frames no sample needs."""

import struct

import numpy as np
import pytest

from clusterpipe.config import EncodeSettings
from clusterpipe.errors import ClusterpipeError
from clusterpipe.video import ReadReport, sample_frames

from .conftest import read_code, write_mp4

# x264 with B-frames (some of them references, b-pyramid) and a long keyframe interval: the
# stream structure of real footage, where skipping non-reference frames pays.
X264 = {"preset": "veryfast", "x264-params": "bframes=3:b-pyramid=normal:keyint=120:scenecut=0"}


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    # 960 frames: more timestamps than the look-ahead keeps before folding them into a count.
    path = tmp_path_factory.mktemp("h264") / "b.mp4"
    return str(write_mp4(path, 960, 30, codec="libx264", codec_options=X264))


def sampled(path, decoder, fps=1.0, **kw):
    report = ReadReport()
    got = [
        (s.frame_index, s.time_s, read_code(s.image))
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
