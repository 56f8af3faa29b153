"""Read a folder of PNG/JPEG images into one array, and write arrays back out as PNGs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from hourglass.atomic import atomic_dir
from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def read_image_folder(root: Path, size: tuple[int, int] | None = None, color: str = "auto") -> Dataset:
    """Every image under ``root`` resized to one (H, W); labels are the sub-folder names, if any.

    ``color`` is ``"gray"``, ``"rgb"`` or ``"auto"`` (RGB only if some image really has colour).
    """
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise HourglassError(f"{root}: no PNG/JPEG images in this folder")
    images = []
    for path in files:
        try:
            with Image.open(path) as im:
                im.load()
                images.append(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise HourglassError(f"{path}: not a readable image ({e})") from None
    if size is None:  # the most common size, so a few odd ones get resized rather than most
        w, h = Counter(im.size for im in images).most_common(1)[0][0]
        size = (h, w)
    arrays = np.stack([np.asarray(im.resize((size[1], size[0]), Image.BILINEAR)) for im in images])
    if color not in ("auto", "gray", "rgb"):
        raise HourglassError(f"unknown color mode {color!r}; choose auto, gray or rgb")
    is_gray = bool((arrays[..., 0] == arrays[..., 1]).all() and (arrays[..., 1] == arrays[..., 2]).all())
    if color == "gray" or (color == "auto" and is_gray):
        arrays = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in arrays])
    names = [p.parent.relative_to(root).as_posix() for p in files]
    y = np.array(names) if any(n != "." for n in names) else None
    return Dataset(arrays, y, kind="image", name=root.name)


def to_uint8_images(array: np.ndarray, lo: float = 0.0, hi: float = 255.0) -> np.ndarray:
    """Map values in [lo, hi] to uint8 pixels, clipping what falls outside."""
    scaled = (np.asarray(array, np.float32) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def write_image_folder(folder: Path, images: np.ndarray) -> None:
    """Write ``images`` (n, H, W[, C], uint8) as 00000.png, 00001.png ... into a new folder."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise HourglassError(f"{folder}: exists and is not an empty folder; choose a new output path")
    width = max(5, len(str(len(images) - 1)))
    with atomic_dir(folder) as tmp:
        for i, image in enumerate(images):
            Image.fromarray(image).save(tmp / f"{i:0{width}d}.png")
