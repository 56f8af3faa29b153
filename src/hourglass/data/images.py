"""Read a folder of PNG/JPEG images into one array, and write arrays back out as PNGs."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from PIL.Image import DecompressionBombError

from hourglass.atomic import atomic_dir
from hourglass.data.arrays import writing
from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DEEP_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # Pillow's 16-bit grey (and 32-bit integer) modes
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

    Files are read in sorted order of their paths, so row N is the N-th path; ``ids`` holds each path,
    relative to ``root`` (``"boots/0001.png"``), for the outputs to name the files.

    ``color`` is ``"gray"``, ``"rgb"`` or ``"auto"`` (RGB only if some image really has colour). Images
    over ``max_pixels`` pixels are refused from their header, before any is decoded; then one image
    at a time is decoded and resized, so memory holds the result and one image.

    Pixels keep their depth: uint8, or uint16 when any image is 16-bit grey (a PNG or TIFF in Pillow's
    ``I;16`` modes), 8-bit ones then scaled by 257 so both span 0..65535 (see ``_put``). Pillow reads
    16-bit colour PNGs as 8-bit RGB (their high bytes), so those are 8-bit here.
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
        arrays = _put(arrays, i, _open(path, max_pixels, decode=True, size=size))
    is_gray = bool((arrays[..., 0] == arrays[..., 1]).all() and (arrays[..., 1] == arrays[..., 2]).all())
    if is_gray and color != "rgb":
        arrays = np.ascontiguousarray(arrays[..., 0])
    elif color == "gray":
        arrays = _luminance(arrays)
    names = [_text(p.parent.relative_to(root).as_posix()) for p in files]
    y = np.array(names) if any(n != "." for n in names) else None
    ids = np.array([_text(p.relative_to(root).as_posix()) for p in files])
    return Dataset(arrays, y, kind="image", name=root.name, ids=ids)


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
                if im.mode in DEEP_MODES:
                    return _deep_gray(im, path, size)
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


def _deep_gray(im: Image.Image, path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """A 16-bit grey image (PNG, TIFF) as uint16, every level kept: Pillow's ``convert("RGB")`` clips it to 0..255."""
    values = np.asarray(im)
    if values.min() < 0 or values.max() > 65535:  # mode "I" holds 32-bit integers
        raise HourglassError(f"{path}: pixel values beyond 16 bits ({values.min()}..{values.max()}); save as 16-bit")
    if size is not None and im.size != (size[1], size[0]):
        resized = Image.fromarray(values.astype(np.float32), "F").resize((size[1], size[0]), Image.Resampling.BILINEAR)
        values = np.clip(np.rint(np.asarray(resized)), 0, 65535)
    return values.astype(np.uint16)


def _put(arrays: np.ndarray, i: int, image: np.ndarray) -> np.ndarray:
    """``arrays`` (n, H, W, 3) with ``image`` as its i-th: uint8 until a 16-bit image comes, uint16 from then on.

    In a folder that mixes depths, 8-bit images are scaled to the 16-bit range (x 257, so 255 is 65535), so
    white is white in both. Scaling (``hourglass.data.scaling``) then maps the data's own range, so 12-bit
    data stored in 16-bit files (0..4095) is not squeezed into a sixteenth of the range.
    """
    if image.dtype == np.uint16 and arrays.dtype == np.uint8:
        arrays = arrays.astype(np.uint16) * np.uint16(257)  # the rows not yet read are overwritten
    if arrays.dtype == np.uint16 and image.dtype == np.uint8:
        image = image.astype(np.uint16) * np.uint16(257)
    arrays[i] = image[..., None] if image.ndim == 2 else image  # grey: the same value in every channel
    return arrays


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Pillow's RGB-to-L conversion (ITU-R 601-2 luma, in the same integer arithmetic), at any depth."""
    weighted = rgb[..., 0] * np.int64(19595) + rgb[..., 1] * np.int64(38470) + rgb[..., 2] * np.int64(7471)
    return ((weighted + 0x8000) >> 16).astype(rgb.dtype)


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


def to_png_pixels(array: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map values in [lo, hi] to a PNG's pixels: uint16 for grey images whose range holds more than 256 levels
    (a model of 16-bit data, say), so writing them keeps their depth; uint8 otherwise. Pillow writes 16-bit
    grey PNGs but no 16-bit colour ones, so colour images are 8-bit."""
    grey = array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 1)
    if not grey or hi - lo <= 255:
        return to_uint8_images(array, lo, hi)
    scaled = (np.asarray(array, np.float64) - lo) / (hi - lo)
    return np.clip(np.rint(scaled * 65535), 0, 65535).astype(np.uint16).reshape(array.shape[:3])


def write_image_folder(folder: Path, images: np.ndarray, names: np.ndarray | None = None) -> None:
    """Write ``images`` (n, H, W[, C], uint8; or (n, H, W) uint16, 16-bit grey) as PNGs into a new folder.

    ``names``: each image's path in the folder it came from (``Dataset.ids``); the PNG keeps that path with
    a ``.png`` suffix (``boots/0001.jpg`` -> ``boots/0001.png``). Without them, or when two paths would
    become one file or a path leaves the folder, the files are 00000.png, 00001.png ... in row order.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise HourglassError(f"{folder}: exists and is not an empty folder; choose a new output path")
    files = _png_names(names, len(images))
    with writing(folder), atomic_dir(folder) as tmp:
        for file, image in zip(files, images, strict=True):
            target = tmp / file
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(target)


def _png_names(names: np.ndarray | None, n: int) -> list[str]:
    width = max(5, len(str(n - 1)))
    numbered = [f"{i:0{width}d}.png" for i in range(n)]
    if names is None or len(names) != n:
        return numbered
    files = [PurePosixPath(str(name)).with_suffix(".png") for name in names]
    safe = all(not f.is_absolute() and ".." not in f.parts and f.name != ".png" for f in files)
    taken = {f.as_posix().lower() for f in files}  # one file each, also on case-blind file systems
    folders = {p.as_posix().lower() for f in files for p in f.parents}
    unique = len(taken) == n and not taken & folders
    return [f.as_posix() for f in files] if safe and unique else numbered
