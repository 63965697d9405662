"""The generated fake camera: a well-formed 4:2:0 Y4M whose picture moves everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.support import y4m


def test_the_file_has_the_header_and_one_frame_per_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPCONF_Y4M_DIR", str(tmp_path))
    path = y4m.camera_file(64, 48, fps=10, seconds=0.5)

    data = path.read_bytes()
    head, _, rest = data.partition(b"\n")
    assert head == b"YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg"
    frame = len(b"FRAME\n") + 64 * 48 * 3 // 2
    assert len(rest) == 5 * frame
    assert all(rest[i * frame : i * frame + 6] == b"FRAME\n" for i in range(5))
    assert y4m.camera_file(64, 48, fps=10, seconds=0.5) == path  # cached, not rewritten
    assert path.stat().st_mtime_ns == (tmp_path / path.name).stat().st_mtime_ns


def test_consecutive_frames_differ_across_the_picture_and_have_detail() -> None:
    first, second = list(y4m.frames(1280, 720, 30))[:2]
    a = np.frombuffer(first[: 1280 * 720], np.uint8).reshape(720, 1280).astype(int)
    b = np.frombuffer(second[: 1280 * 720], np.uint8).reshape(720, 1280).astype(int)

    # motion in every quarter of the picture, not only where the square is
    for rows in (slice(0, 360), slice(360, 720)):
        for cols in (slice(0, 640), slice(640, 1280)):
            assert np.mean(a[rows, cols] != b[rows, cols]) > 0.5
    # fine detail: neighbouring pixels differ (what a 1280-wide layer must spend bits on)
    assert np.mean(np.abs(np.diff(a, axis=1))) > 8
    assert len(first) == 1280 * 720 * 3 // 2


def test_a_size_the_4_2_0_planes_cannot_split_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^width and height must be positive multiples of 16"):
        next(y4m.frames(1279, 720, 1))
