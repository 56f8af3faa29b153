"""Hostile inputs: whatever a user's file or argument holds, the answer is a result or one clear line.

A generated corpus (hypothesis: random bytes, random arrays of every dtype and shape, damaged copies
of valid files) goes through ``load_dataset`` and through the commands that read data; every case
ends in a working result or ``HourglassError`` / exit 2 with exactly one line on stderr, never a
traceback. Then one test per failure the audit found (issue 11).
"""

import io
import itertools
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageFile

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.cli.arguments import bounded_float, bounded_int, seed_int
from hourglass.runtime.device import resolve_device

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)
N_FEATURES = 4
_counter = itertools.count()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A table model, an image model (4x4) and a detector, tiny and quick; paths to their folders."""
    root = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    X = rng.random((40, N_FEATURES)).astype(np.float32)
    small = {"hidden": (8,), "latent_dim": 2, "epochs": 2}
    hg.Autoencoder(**small).fit(X).save(root / "table")
    hg.Autoencoder(**small).fit(rng.integers(0, 255, (30, 4, 4), dtype=np.uint8)).save(root / "image")
    AnomalyDetector(**small, n_members=2).fit(X).save(root / "detector")
    return {name: str(root / name) for name in ("table", "image", "detector")}


def run_cli(capsys, argv: list) -> tuple[int, str]:
    """Exit code and stderr of ``hourglass ARGV`` (argparse's usage errors included)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def assert_result_or_one_line(code: int, err: str, argv: list) -> None:
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, err
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("hourglass: error: "), (argv, err)
    else:  # a result; anything said on the way is in hourglass's words
        assert all(line.startswith("hourglass: ") for line in err.splitlines()), (argv, err)


def assert_usage_error(code: int, err: str, flag: str) -> None:
    """A bad flag value, whether argparse or the estimator's parameter table caught it: exit 2 and one
    error line naming the flag."""
    assert code == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hourglass: error:"), err
    assert f"argument {flag}:" in lines[0] or f"error: {flag} " in lines[0] or f"error: {flag}[" in lines[0], err


def check_loads_or_refuses(path: Path, **kwargs) -> hg.Dataset | None:
    """``load_dataset``: a clean Dataset, or one line that names the file; nothing else."""
    try:
        data = hg.load_dataset(path, **kwargs)
    except HourglassError as e:
        message = str(e)
        assert "\n" not in message and path.name in message, message
        return None
    X = data.X
    assert X.dtype.kind in "biuf" and X.ndim in (2, 3, 4) and len(X) > 0
    with np.errstate(over="ignore"):
        assert np.isfinite(np.asarray(X).astype(np.float32)).all()  # finite in the dtype the models use
    if data.y is not None:
        assert data.y.ndim == 1 and len(data.y) == len(X) and data.y.dtype.kind in "biufUO"
        assert not any(isinstance(v, bytes) for v in data.y.tolist())
    return data


def new_dir(root: Path) -> Path:
    folder = root / f"case{next(_counter)}"
    folder.mkdir()
    return folder


# ---- the generated corpus -------------------------------------------------------------------------

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")
DTYPES = ("f8", ">f8", "f4", "f2", "i8", "u8", "u1", "?", "c8", "U3", "S3", "M8[s]")
# float64 values well beyond float32's range (3.4e38), mixed with ordinary ones
WIDE_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e39, -1e300, 3.5e38, 1.0]))


@st.composite
def arrays(draw, max_dims: int = 4) -> np.ndarray:
    """Any shape (zero sizes and 0-d included) and dtype; float64 values often beyond float32."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    if draw(st.booleans()):  # often rows of the width the models expect, so some cases succeed
        shape = (draw(st.integers(1, 6)), N_FEATURES)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    elements = WIDE_FLOATS if dtype.kind == "f" and dtype.itemsize == 8 else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


def object_array(rows: int) -> np.ndarray:
    return np.array([1, "a", None, b"\xff", 2.5][:rows] * 2, dtype=object)


@st.composite
def hostile_file(draw, folder: Path) -> Path:
    """A file of a data suffix holding random bytes, a random array, or a damaged valid file."""
    suffix = draw(st.sampled_from(SUFFIXES))
    path = folder / f"data{suffix}"
    kind = draw(st.sampled_from(["bytes", "array", "damaged"]))
    if kind == "bytes":
        path.write_bytes(draw(st.binary(max_size=300)))
        return path
    X = draw(arrays())
    labels = draw(st.one_of(st.none(), arrays(max_dims=2), st.just(object_array(len(X) if X.ndim else 1))))
    buffer = io.BytesIO()
    try:
        if suffix == ".npy":
            np.save(buffer, X if labels is None or labels.dtype != object else labels, allow_pickle=True)
        elif suffix == ".npz":
            arrays_in = {"X": X} if labels is None else {"X": X, "y": labels}
            (np.savez_compressed if draw(st.booleans()) else np.savez)(buffer, allow_pickle=True, **arrays_in)
        else:
            frame = pd.DataFrame(X.reshape(len(X), -1) if X.ndim else X.reshape(1, 1))
            frame.columns = [f"c{i}" for i in range(frame.shape[1])]
            if labels is not None and labels.ndim == 1 and len(labels) == len(frame):
                frame["label"] = labels
            if suffix == ".parquet":
                frame.to_parquet(buffer)
            else:
                frame.to_csv(buffer, index=False, sep="\t" if suffix == ".tsv" else ",")
    except Exception:  # some dtypes cannot be written in some formats: not a case
        assume(False)
    raw = buffer.getvalue()
    if kind == "damaged" and raw:
        cut = draw(st.integers(0, len(raw)))
        flips = draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=4))
        damaged = bytearray(raw)
        for at, value in flips:
            damaged[at] = value
        raw = bytes(damaged[:cut]) if draw(st.booleans()) else bytes(damaged)
    path.write_bytes(raw)
    return path


@SETTINGS
@given(data=st.data())
def test_generated_files_load_or_refuse_in_one_line(tmp_path, data):
    path = data.draw(hostile_file(new_dir(tmp_path)))
    check_loads_or_refuses(path, label="label" if path.suffix in (".csv", ".tsv", ".parquet") else None)
    check_loads_or_refuses(path, drop_nonfinite=True)


@SETTINGS
@given(data=st.data())
def test_generated_files_through_the_cli(tmp_path, capsys, models, data):
    folder = new_dir(tmp_path)
    path = data.draw(hostile_file(folder))
    command = data.draw(st.sampled_from(["encode", "reconstruct", "decode", "score", "interpolate"]))
    argv = {
        "encode": ["encode", models["table"], path, "-o", folder / "codes.csv"],
        "reconstruct": ["reconstruct", models["table"], path, "-o", folder / "rows.npy", "--drop-nonfinite"],
        "decode": ["decode", models["table"], path, "-o", folder / "rows.csv"],
        "score": ["score", models["detector"], path, "-o", folder / "scores.csv"],
        "interpolate": ["interpolate", models["table"], path, "--from", 0, "--to", -1, "-o", folder / "walk.npy"],
    }[command]
    assert_result_or_one_line(*run_cli(capsys, argv), argv)


def png_bytes(width: int, height: int) -> bytes:
    """A valid grayscale PNG of zeros: tiny on disk whatever its size in pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(b"\x00" * ((width + 1) * height), 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@st.composite
def hostile_image_folder(draw, folder: Path) -> Path:
    """A folder of images, some damaged, of random modes and sizes, perhaps with odd files in it."""
    for i in range(draw(st.integers(0, 4))):
        mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I", "F", "I;16", "LA", "CMYK"]))
        size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        fmt = draw(st.sampled_from(["png", "tiff", "gif", "bmp", "jpeg", "webp"]))
        buffer = io.BytesIO()
        try:
            Image.new(mode, size, color=draw(st.integers(0, 255))).save(buffer, format=fmt)
        except (OSError, ValueError, KeyError):  # a mode the format cannot hold
            continue
        raw = buffer.getvalue()
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(0, len(raw)))]
        sub = folder / draw(st.sampled_from([".", "a", "b/c", "caf\u00e9"]))
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.{fmt}").write_bytes(raw)
    if draw(st.booleans()):
        (folder / "notes.png").write_bytes(draw(st.binary(max_size=64)))
    if draw(st.booleans()):
        (folder / "big.png").write_bytes(png_bytes(draw(st.integers(1, 3000)), draw(st.integers(1, 3000))))
    return folder


@SETTINGS
@given(data=st.data())
def test_generated_image_folders(tmp_path, capsys, models, data):
    folder = data.draw(hostile_image_folder(new_dir(tmp_path)))
    size = data.draw(st.sampled_from([None, (4, 4), (3, 5)]))
    max_pixels = data.draw(st.sampled_from([10_000, 25_000_000]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warnings must never reach the user
        data_set = check_loads_or_refuses(folder, image_size=size, max_pixels=max_pixels)
    if data_set is not None and size is not None:
        assert data_set.sample_shape[:2] == size
    argv = ["encode", models["image"], folder, "--image-size", "4x4", "--color", "gray", "-o", folder / "z.csv"]
    assert_result_or_one_line(*run_cli(capsys, argv), argv)


# ---- silent NaN: values beyond float32 (issue 11, point 3) -----------------------------------------


def _write(path: Path, X: np.ndarray) -> Path:
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    {
        ".npy": lambda: np.save(path, X),
        ".npz": lambda: np.savez(path, X=X),
        ".csv": lambda: frame.to_csv(path, index=False),
        ".parquet": lambda: frame.to_parquet(path),
    }[path.suffix]()
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".parquet"])
def test_values_beyond_float32_are_refused_or_dropped(tmp_path, capsys, models, suffix):
    X = np.random.default_rng(0).random((20, N_FEATURES))
    X[7, 2] = 1e39  # finite in float64, infinite in float32
    path = _write(tmp_path / f"big{suffix}", X)
    with pytest.raises(HourglassError, match=rf"big\{suffix}: 1 row\(s\) hold .*too large for float32"):
        hg.load_dataset(path)
    kept = hg.load_dataset(path, drop_nonfinite=True)
    assert len(kept) == 19 and np.isfinite(np.asarray(kept.X, np.float32)).all()
    code, err = run_cli(capsys, ["encode", models["table"], path, "-o", tmp_path / "z.csv"])
    assert code == 2 and "too large for float32" in err and not (tmp_path / "z.csv").exists()
    code, err = run_cli(capsys, ["score", models["detector"], path, "-o", tmp_path / "s.csv"])
    assert code == 2 and "too large for float32" in err and not (tmp_path / "s.csv").exists()
    code, err = run_cli(capsys, ["encode", models["table"], path, "-o", tmp_path / "z.csv", "--drop-nonfinite"])
    assert code == 0 and "dropped 1 row" in err and len(pd.read_csv(tmp_path / "z.csv")) == 19


def test_memory_map_is_checked_in_chunks(tmp_path, monkeypatch):
    """A bad value far into a memory-mapped .npy is found without reading the file as one array."""
    import hourglass.data as data_module

    X = np.zeros((5000, N_FEATURES))
    X[4321, 0] = -1e39
    np.save(tmp_path / "big.npy", X)
    monkeypatch.setattr(data_module, "_CHUNK_BYTES", 1000 * N_FEATURES * 8)
    seen = []
    real = data_module.to_float32  # what the check calls on each chunk
    monkeypatch.setattr(data_module, "to_float32", lambda chunk: seen.append(len(chunk)) or real(chunk))
    with pytest.raises(HourglassError, match="first: row 4321"):
        hg.load_dataset(tmp_path / "big.npy")
    assert max(seen) == 1000 and sum(seen) == 5000
    X[4321, 0] = 1.0
    np.save(tmp_path / "fine.npy", X)
    assert isinstance(hg.load_dataset(tmp_path / "fine.npy").X, np.memmap)  # still on disk after the check


# ---- damaged and empty files of every kind (point 7) ----------------------------------------------


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("hdr.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}  \n" + b"0" * 40, "not a readable .npy"),
        ("obj.npy", None, "not a readable .npy"),
        ("trunc.npz", _npz_bytes(X=np.ones((50, 4)))[:-60], "not a readable .npz"),
        ("member.npz", None, "member 'X.txt' is not a numpy array"),
        ("zero.parquet", b"", "the file is empty"),
        ("zero.npy", b"", "the file is empty"),
        ("labels0d.npz", _npz_bytes(X=np.ones((5, 4)), y=np.array(3)), "one value per row"),
        ("labels2d.npz", _npz_bytes(X=np.ones((5, 4)), y=np.ones((5, 2))), "one value per row"),
        ("complex.npz", _npz_bytes(X=np.ones((5, 4)), y=np.ones(5, "c8")), "labels of dtype complex64"),
    ],
)
def test_damaged_files_are_one_line_errors(tmp_path, capsys, models, name, content, message):
    path = tmp_path / name
    if name == "obj.npy":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif name == "member.npz":
        import zipfile

        with zipfile.ZipFile(path, "w") as z:
            z.writestr("X.txt", "not an array")
    else:
        path.write_bytes(content)
    with pytest.raises(HourglassError, match=message) as info:
        hg.load_dataset(path)
    assert name in str(info.value)
    code, err = run_cli(capsys, ["encode", models["table"], path, "-o", tmp_path / "z.csv"])
    assert code == 2 and err.startswith(f"hourglass: error: {path}") and len(err.splitlines()) == 1


def _folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    return folder


def _png(size=(6, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.png": _png(), "b.png": b"not an image"}, r"b\.png: not a readable image"),
        ({"a.png": _png(), "b.png": _png()[:40]}, r"b\.png: not a readable image"),
        ({"notes.txt": b"hello"}, "no PNG/JPEG images"),
        ({}, "no PNG/JPEG images"),
    ],
)
def test_bad_image_folders_are_one_line_errors(tmp_path, capsys, models, files, message):
    folder = _folder(tmp_path, files)
    with pytest.raises(HourglassError, match=message):
        hg.load_dataset(folder)
    code, err = run_cli(capsys, ["encode", models["image"], folder, "-o", tmp_path / "z.csv"])
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("hourglass: error: ")


# ---- unbounded work: decompression bombs, huge sizes (point 9) -------------------------------------


def test_a_100_megapixel_image_is_refused_before_it_is_decoded(tmp_path, capsys, models, monkeypatch):
    folder = _folder(tmp_path, {"a.png": _png(), "bomb.png": png_bytes(10_000, 10_000)})  # 900 MB as RGB

    def no_decoding(self, *args):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape either
        with pytest.raises(HourglassError, match=r"bomb\.png: 10000x10000 is 100,000,000 pixels.*--max-pixels"):
            hg.load_dataset(folder)
    code, err = run_cli(capsys, ["encode", models["image"], folder, "-o", tmp_path / "z.csv"])
    assert code == 2 and len(err.splitlines()) == 1 and "bomb.png" in err


def test_max_pixels_sets_the_limit_and_pillow_never_warns(tmp_path, capsys, models, monkeypatch):
    folder = _folder(tmp_path, {"a.png": _png((4, 4)), "b.png": _png((12, 12))})
    argv = ["encode", models["image"], folder, "--image-size", "4x4", "-o", tmp_path / "z.csv"]
    code, err = run_cli(capsys, [*argv, "--max-pixels", "100"])
    assert code == 2 and "b.png: 12x12 is 144 pixels, over the limit of 100" in err
    # Pillow warns from MAX_IMAGE_PIXELS and refuses from twice that: shrink its limit to see both
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(hg.load_dataset(folder, image_size=(4, 4))) == 2  # 144 pixels: Pillow's warning, silenced
        (folder / "c.png").write_bytes(_png((20, 20)))  # 400 pixels: Pillow refuses
        with pytest.raises(HourglassError, match=r"c\.png: too large to decode safely"):
            hg.load_dataset(folder, image_size=(4, 4))


def test_image_size_is_bounded(tmp_path, capsys, models):
    folder = _folder(tmp_path, {"a.png": _png()})
    code, err = run_cli(capsys, ["encode", models["image"], folder, "--image-size", "30000x30000", "-o", "z.csv"])
    assert_usage_error(code, err, "--image-size")
    with pytest.raises(HourglassError, match="each side must be from 1 to 4096"):
        hg.load_dataset(folder, image_size=(30000, 30000))
    with pytest.raises(HourglassError, match="each side must be from 1 to 4096"):
        hg.load_dataset(folder, image_size=(0, 5))


def test_images_larger_than_the_side_limit_need_an_image_size(tmp_path):
    folder = _folder(tmp_path, {"wide.png": png_bytes(5000, 2)})
    with pytest.raises(HourglassError, match="2x5000; choose a smaller size with --image-size"):
        hg.load_dataset(folder)
    assert hg.load_dataset(folder, image_size=(2, 50)).sample_shape == (2, 50)


# ---- arguments (point 7) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["sample", "{table}", "-n", "1e9", "-o", "s.npy"], "-n"),
        (["sample", "{table}", "--seed", "-1", "-o", "s.npy"], "--seed"),
        (["sample", "{table}", "--seed", str(2**32), "-o", "s.npy"], "--seed"),
        (["sample", "{image}", "--cols", "0", "-o", "s.png"], "--cols"),
        (["fit-detector", "{data}", "--members", "100000"], "--members"),
        (["fit-detector", "{data}", "--latent", "0"], "--latent"),
        (["fit-detector", "{data}", "--epochs", "0"], "--epochs"),
        (["fit-detector", "{data}", "--trim", "1"], "--trim"),
        (["fit-detector", "{data}", "--trim", "nan"], "--trim"),
        (["fit-detector", "{data}", "--contamination", "0.9"], "--contamination"),
        (["fit-detector", "{data}", "--contamination", "inf"], "--contamination"),
        (["fit-detector", "{data}", "--hidden", "0"], "--hidden"),
        (["fit-detector", "{data}", "--hidden", "100000000"], "--hidden"),
        (["fit-detector", "{data}", "--seed", "-1"], "--seed"),
        (["fit-detector", "{data}", "--device", "mps"], "--device"),
        (["fit-detector", "{data}", "--device", "tpu:0"], "--device"),
        (["fit-detector", "{data}", "--max-pixels", "0"], "--max-pixels"),
        (["interpolate", "{table}", "{data}", "--from", "0", "--to", "1", "--steps", "1", "-o", "w.npy"], "--steps"),
        (
            ["interpolate", "{table}", "{data}", "--from", "0", "--to", "1", "--steps", "1001", "-o", "w.npy"],
            "--steps",
        ),
        (["score", "{detector}", "{data}", "--top", "-1", "-o", "s.csv"], "--top"),
        (["score", "{detector}", "{data}", "--explain", "-1", "-o", "s.csv"], "--explain"),
        (["score", "{detector}", "{data}", "--explain", "1e9", "-o", "s.csv"], "--explain"),
    ],
)
def test_out_of_range_flags_are_usage_errors(tmp_path, capsys, models, monkeypatch, args, flag):
    monkeypatch.chdir(tmp_path)
    np.save("data.npy", np.random.default_rng(0).random((20, N_FEATURES)))
    argv = [a.format(data="data.npy", **models) for a in args]
    assert_usage_error(*run_cli(capsys, argv), flag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npy"]  # nothing written, no runs/ folder


def test_sample_sizes_bounded_by_what_is_drawn(tmp_path, capsys, models, monkeypatch):
    for n in ("0", "-1", "1000001"):
        code, err = run_cli(capsys, ["sample", models["table"], "-n", n, "-o", tmp_path / "s.npy"])
        assert code == 2 and err == f"hourglass: error: -n {n}: give from 1 to 1,000,000 samples\n"
    code, err = run_cli(capsys, ["sample", models["image"], "-n", "2000", "-o", tmp_path / "s.png"])
    assert code == 2 and "a PNG shows at most 1,024 samples" in err
    with monkeypatch.context() as patch:
        patch.setattr("hourglass.cli.sample.MAX_VALUES", 10)  # 3 samples of 4 values each are over it
        code, err = run_cli(capsys, ["sample", models["table"], "-n", "3", "-o", tmp_path / "s.npy"])
        assert code == 2 and "3 samples of 4 values each need over 1 GiB" in err
    argv = ["sample", models["table"], "-n", "3", "--seed", str(2**32 - 1), "-o", tmp_path / "s.npy"]
    code, err = run_cli(capsys, argv)
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (3, N_FEATURES)


def test_bounded_types():
    assert bounded_int(1, 5)("5") == 5 and bounded_float(0, 1, hi_open=True)("0") == 0.0
    assert seed_int(str(2**32 - 1)) == 2**32 - 1
    for parse, text in [(bounded_int(1, 5), "6"), (bounded_int(1), "1.5"), (bounded_float(0, 1), "inf")]:
        with pytest.raises(Exception, match="expected"):
            parse(text)


@pytest.mark.parametrize("device", ["mps", "xla", "tpu", "", "meta", "cpu:x"])
def test_unknown_devices_are_one_line_errors(device):
    with pytest.raises(HourglassError, match="unknown device"):
        resolve_device(device)
    with pytest.raises(HourglassError, match="device"):
        hg.Autoencoder(hidden=(4,), epochs=1, device=device).fit(np.ones((8, 2), np.float32))


def test_cuda_without_a_gpu_is_one_line_error():
    import torch

    if torch.cuda.is_available():
        with pytest.raises(HourglassError, match="only"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(HourglassError, match="no CUDA GPU is available"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


# ---- codes and labels (point 7) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("z1,z2\n1,2\nfoo,3\n", "non-numeric column.*z1"),
        ("z1,z2\n", "no data rows"),
        ("z1,z2\n1,1e39\n", "too large for float32"),
        ("a,b,c\n1,2,3\n", "3 columns, but the model's code has 2"),
        ("", "empty"),
    ],
)
def test_bad_codes_tables_are_one_line_errors(tmp_path, capsys, models, content, message):
    (tmp_path / "codes.csv").write_text(content)
    code, err = run_cli(capsys, ["decode", models["table"], tmp_path / "codes.csv", "-o", tmp_path / "rows.npy"])
    assert code == 2 and len(err.splitlines()) == 1 and "codes.csv" in err
    assert re.search(message, err), err


def test_codes_with_a_label_column_and_a_tsv(tmp_path, capsys, models):
    (tmp_path / "codes.tsv").write_text("z1\tz2\tlabel\n0.1\t0.2\tcat\n0.3\t-0.1\tdog\n")
    code, err = run_cli(capsys, ["decode", models["table"], tmp_path / "codes.tsv", "-o", tmp_path / "rows.npy"])
    assert code == 0, err
    assert np.load(tmp_path / "rows.npy").shape == (2, N_FEATURES)


@pytest.mark.parametrize("content", ["c0,c1,c2,c3\n1,2,3,4\nfoo,1,2,3\n", "c0,c1,c2,c3\n"])
def test_bad_interpolate_data_is_one_line_error(tmp_path, capsys, models, content):
    (tmp_path / "rows.csv").write_text(content)
    argv = ["interpolate", models["table"], tmp_path / "rows.csv", "--from", 0, "--to", 1, "-o", tmp_path / "w.npy"]
    code, err = run_cli(capsys, argv)
    assert code == 2 and len(err.splitlines()) == 1 and "rows.csv" in err


def test_non_ascii_byte_labels_are_decoded(tmp_path, capsys, models):
    X = np.random.default_rng(0).random((3, N_FEATURES))
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["caf\u00e9".encode(), b"\xff\xfe", b"ok"]))
    assert hg.load_dataset(tmp_path / "d.npz").y.tolist() == ["caf\u00e9", "\ufffd\ufffd", "ok"]
    code, err = run_cli(capsys, ["encode", models["table"], tmp_path / "d.npz", "-o", tmp_path / "z.csv"])
    assert code == 0, err
    assert pd.read_csv(tmp_path / "z.csv")["label"].tolist() == ["caf\u00e9", "\ufffd\ufffd", "ok"]


def test_sub_folder_names_that_are_not_utf8_become_text(tmp_path):
    import os

    folder = tmp_path / "images"
    os.makedirs(os.fsencode(folder) + b"/caf\xe9")  # Latin-1 bytes: not UTF-8
    (folder / "ok").mkdir()
    for sub in os.listdir(folder):
        (folder / sub / "a.png").write_bytes(_png())
    labels = hg.load_dataset(folder).y.tolist()
    assert sorted(labels) == ["caf\ufffd", "ok"]
    "".join(labels).encode("utf-8")  # no lone surrogates left: the labels can go into JSON and HTML


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not gzip", "cannot read the gzip file"),
        (zlib.compress(b"x"), "cannot read the gzip file"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 8, "cannot read the gzip file"),
    ],
)
def test_damaged_idx_files_are_one_line_errors(tmp_path, raw, message):
    import gzip

    from hourglass.data.builtin import read_idx

    (tmp_path / "a.gz").write_bytes(raw)
    with pytest.raises(HourglassError, match=message):
        read_idx(tmp_path / "a.gz")
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x02\x00\x00"))  # the header's dims cut short
    with pytest.raises(HourglassError, match="not an IDX file"):
        read_idx(tmp_path / "b.gz")
