"""A fake camera for Chromium: a generated, looping YUV4MPEG2 (``.y4m``) file.

Chromium's ``--use-file-for-fake-video-capture=<file>.y4m`` (with
``--use-fake-device-for-media-stream``) plays the file in a loop as the camera, at the
file's size and frame rate. Its reader takes 4:2:0 only (``C420``, ``C420jpeg``,
``C420mpeg2``, ``C420paldv``; media/capture/video/file_video_capture_device.cc), one
``FRAME`` header without parameters per frame.

The picture moves everywhere and has detail at every scale, so that a simulcast encoder
spends bits on all its layers: a textured background (coarse blobs plus fine grain)
scrolling diagonally, a bright square bouncing across, and moving colour bands in the
chroma planes. :func:`camera_file` writes it once per set of parameters into a cache
directory (``$SNAPCONF_Y4M_DIR``, else the system temp directory) and returns its path;
concurrent callers are safe (the file is written aside and renamed into place).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def chromium_args(path: Path) -> list[str]:
    """Chromium's flags for a fake camera playing ``path``."""
    return ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={path}"]


def cache_dir() -> Path:
    return Path(os.environ.get("SNAPCONF_Y4M_DIR") or Path(tempfile.gettempdir()) / "snapconf-y4m")


def header(width: int, height: int, fps: int) -> bytes:
    """The stream header (progressive, square pixels, 4:2:0 with JPEG chroma siting)."""
    return f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode()


def frames(width: int, height: int, count: int, seed: int = 11) -> Iterator[bytes]:
    """``count`` frames of planar 4:2:0 (Y, then U, then V), each ``width*height*3/2`` bytes."""
    if width % 16 or height % 16 or width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive multiples of 16, not {width}x{height}")
    rng = np.random.default_rng(seed)
    margin = 256
    th, tw = height + margin, width + margin
    # coarse blobs: 16x16 cells of random grey, upsampled; plus fine grain at full resolution
    coarse = rng.integers(40, 200, size=(th // 16 + 1, tw // 16 + 1), dtype=np.int16)
    coarse = np.repeat(np.repeat(coarse, 16, axis=0), 16, axis=1)[:th, :tw]
    grain = rng.integers(-24, 25, size=(th, tw), dtype=np.int16)
    texture = np.clip(coarse + grain, 16, 235).astype(np.uint8)
    ch, cw = height // 2, width // 2
    yy, xx = np.mgrid[0:ch, 0:cw]
    box = max(height // 6, 16)
    for i in range(count):
        phase = i / max(count, 1)
        dx = int(phase * margin)
        dy = int(phase * margin / 2)
        y = texture[dy : dy + height, dx : dx + width].copy()
        # a bright square bouncing left-right and up-down
        bx = int((width - box) * abs(1 - 2 * phase))
        by = int((height - box) * abs(1 - 2 * ((2 * phase) % 1)))
        y[by : by + box, bx : bx + box] = 230
        y[by + box // 4 : by + 3 * box // 4, bx + box // 4 : bx + 3 * box // 4] = 30
        u = (128 + 60 * np.sin((xx + 8 * i) / 23.0)).astype(np.uint8)
        v = (128 + 60 * np.cos((yy - 5 * i) / 17.0 + xx / 41.0)).astype(np.uint8)
        yield y.tobytes() + u.tobytes() + v.tobytes()


def camera_file(width: int = 1280, height: int = 720, fps: int = 30, seconds: float = 2.0) -> Path:
    """The path of a looping fake-camera file of these parameters, generated if missing.

    1280x720 at 30 fps is 1.38 MB a frame: 2 s is 83 MB.
    """
    count = max(1, round(fps * seconds))
    path = cache_dir() / f"camera-{width}x{height}-{fps}fps-{count}f.y4m"
    if path.exists() and path.stat().st_size == len(header(width, height, fps)) + count * (
        len(b"FRAME\n") + width * height * 3 // 2
    ):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header(width, height, fps))
            for frame in frames(width, height, count):
                f.write(b"FRAME\n")
                f.write(frame)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
