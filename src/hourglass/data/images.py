"""Read a folder of PNG/JPEG images into one array, and write arrays back out as PNGs."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.Image import DecompressionBombError

from hourglass.atomic import atomic_dir
from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_SIDE = 4096  # largest height or width images are resized to
# Largest image read, in pixels: a 25-megapixel photo decodes to 75 MB of RGB. Pillow's own guard
# only warns from 89 megapixels, after the header is trusted; a 100-megapixel PNG of a few KB would
# otherwise allocate 900 MB.
MAX_PIXELS = 25_000_000


def check_image_size(size: tuple[int, int]) -> tuple[int, int]:
    """A valid (H, W) to resize images to, or a one-line error."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise HourglassError(f"image size must be (height, width); got {size!r}") from None
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise HourglassError(f"image size {h}x{w}: each side must be from 1 to {MAX_SIDE}")
    return h, w


def read_image_folder(
    root: Path, size: tuple[int, int] | None = None, color: str = "auto", max_pixels: int = MAX_PIXELS
) -> Dataset:
    """Every image under ``root`` resized to one (H, W); labels are the sub-folder names, if any.

    ``color`` is ``"gray"``, ``"rgb"`` or ``"auto"`` (RGB only if some image really has colour). Images
    over ``max_pixels`` pixels are refused from their header, before any is decoded; then one image
    at a time is decoded and resized, so memory holds the result and one image.
    """
    if color not in ("auto", "gray", "rgb"):
        raise HourglassError(f"unknown color mode {color!r}; choose auto, gray or rgb")
    if size is not None:
        size = check_image_size(size)
    try:
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    except OSError as e:
        raise HourglassError(f"{root}: cannot list the folder ({e.strerror or e})") from None
    if not files:
        raise HourglassError(f"{root}: no PNG/JPEG images in this folder")
    sizes = [_open(path, max_pixels, decode=False) for path in files]
    if size is None:  # the most common size, so a few odd ones get resized rather than most
        w, h = Counter(sizes).most_common(1)[0][0]
        if max(h, w) > MAX_SIDE:
            raise HourglassError(f"{root}: the images are {h}x{w}; choose a smaller size with --image-size HxW")
        size = (h, w)
    arrays = np.empty((len(files), *size, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        arrays[i] = _open(path, max_pixels, decode=True, size=size)
    is_gray = bool((arrays[..., 0] == arrays[..., 1]).all() and (arrays[..., 1] == arrays[..., 2]).all())
    if color == "gray" or (color == "auto" and is_gray):
        arrays = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in arrays])
    names = [_text(p.parent.relative_to(root).as_posix()) for p in files]
    y = np.array(names) if any(n != "." for n in names) else None
    return Dataset(arrays, y, kind="image", name=root.name)


def _open(path: Path, max_pixels: int, decode: bool, size: tuple[int, int] | None = None):
    """The image's (W, H) from its header, or (``decode``) its pixels as RGB, resized to ``size`` if given."""
    try:
        # Pillow's warnings (decompression bomb, odd palettes, bad EXIF) are not the user's business:
        # the size limit below says it in hourglass's words; anything worse raises.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                if w < 1 or h < 1:
                    raise HourglassError(f"{path}: the image has no pixels ({w}x{h})")
                if w * h > max_pixels:
                    raise HourglassError(
                        f"{path}: {w}x{h} is {w * h:,} pixels, over the limit of {max_pixels:,}; "
                        "raise it with --max-pixels if the image is trusted"
                    )
                if not decode:
                    return w, h
                im.load()
                rgb = im.convert("RGB")
                if size is not None and rgb.size != (size[1], size[0]):
                    rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                return np.asarray(rgb)
    except HourglassError:
        raise
    except DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise HourglassError(
            f"{path}: too large to decode safely (Pillow refuses over {limit:.0f} megapixels)"
        ) from None
    except Exception as e:  # Pillow's decoders raise many types for damaged or hostile files
        raise HourglassError(f"{path}: not a readable image ({_one_line(e)})") from None


def _text(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (kept by the OS as surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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
