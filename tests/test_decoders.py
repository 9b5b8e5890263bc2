"""Both decoders sample the same frames; pyav skips the frames no sample needs."""

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
