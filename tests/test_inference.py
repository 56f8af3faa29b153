"""``hourglass.inference``: the one network runner. A model folder run without its estimator gives the estimator's
numbers bit for bit, and a bad folder the error ``hourglass.load`` gives; the command line, the estimators and the
explorer's server all go through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.data import load_dataset, model_input
from hourglass.data.tables import write_table
from hourglass.explorer.server import ROUTES, _Api
from hourglass.inference import ESTIMATORS, InferenceModel
from hourglass.registry import ESTIMATORS as REGISTERED

RNG = np.random.default_rng(0)
ROWS = RNG.normal(size=(150, 5)) * [1, 10, 100, 0.1, 1]  # float64, as a user's .npy often is
IMAGES = RNG.integers(0, 256, size=(70, 8, 8)).astype(np.uint8)
SMALL = {"hidden": (4,), "epochs": 2}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One folder of every kind: an MLP fitted on a named table, a conv model and a VAE on images, a detector."""
    root = tmp_path_factory.mktemp("kinds")
    named = pd.DataFrame(ROWS, columns=list("abcde"))
    return {
        "mlp": hg.Autoencoder(**SMALL).fit(named).save(root / "mlp"),
        "conv": hg.Autoencoder(model="conv", hidden=(2,), epochs=1).fit(IMAGES).save(root / "conv"),
        "vae": hg.Autoencoder(model="vae", **SMALL).fit(IMAGES).save(root / "vae"),
        "detector": AnomalyDetector(n_members=2, **SMALL).fit(ROWS).save(root / "detector"),
    }


def _data_for(kind: str, folder: Path) -> tuple[Path, np.ndarray]:
    path = folder.parent / f"{kind}-data.npy"
    rows = ROWS if kind in ("mlp", "detector") else IMAGES
    np.save(path, rows)
    return path, rows


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("kind", ["mlp", "conv", "vae", "detector"])
def test_cli_writes_the_estimators_numbers(folders, kind, tmp_path):
    """What the commands wrote before (the estimator on ``model_input``'s rows) is what they write now, to the bit."""
    folder = folders[kind]
    data, _ = _data_for(kind, folder)
    est = hg.load(folder)
    X = model_input(load_dataset(data), est)  # a memory map, as the command line reads a .npy
    z, dec, rec = tmp_path / "z.npy", tmp_path / "dec.npy", tmp_path / "rec.npy"
    assert main(["encode", str(folder), str(data), "-o", str(z)]) == 0
    _same(np.load(z), est.codes(X))
    assert main(["decode", str(folder), str(z), "-o", str(dec)]) == 0  # a detector's codes decode too
    codes = np.load(z).astype(np.float32)  # what read_codes hands on
    want = est.runner_.inverse_transform(codes)
    _same(np.load(dec), want.reshape(len(want), *est.sample_shape_) if est.kind_ == "image" else want)
    assert main(["reconstruct", str(folder), str(data), "-o", str(rec)]) == 0
    want = est.reconstruct(X).reshape(len(X), -1)
    _same(np.load(rec), want.reshape(len(want), *est.sample_shape_) if est.kind_ == "image" else want)


def test_cli_on_a_named_table_matches_the_estimator(folders, tmp_path):
    """A CSV with its columns in another order, and a label: matched by name, encoded as the estimator does."""
    folder = folders["mlp"]
    frame = pd.DataFrame(ROWS, columns=list("abcde"))[list("ecadb")].assign(group=np.arange(len(ROWS)) % 3)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    args = ["encode", str(folder), str(tmp_path / "rows.csv"), "--label", "group", "-o", str(tmp_path / "z.csv")]
    assert main(args) == 0
    est = hg.load(folder)
    data = load_dataset(tmp_path / "rows.csv", label="group")
    codes = est.transform(model_input(data, est))
    columns = {"row_id": np.arange(len(codes)), "z1": codes[:, 0], "z2": codes[:, 1], "label": data.y}
    write_table(tmp_path / "want.csv", columns)
    assert (tmp_path / "z.csv").read_text() == (tmp_path / "want.csv").read_text()


@pytest.mark.parametrize(
    "rows",
    [
        ROWS.astype(np.float32),
        ROWS,
        (ROWS * 1e16).astype(np.int64),  # float32 codes, as scikit-learn converts it (a memory map: float64)
        np.abs(ROWS * 10).astype(np.uint8),
        ROWS > 0,
    ],
    ids=["float32", "float64", "int64", "uint8", "bool"],
)
def test_every_input_dtype_gives_the_same_bits(folders, rows):
    est, run = hg.load(folders["mlp"]), InferenceModel.load(folders["mlp"])
    _same(run.transform(rows), est.transform(rows))
    _same(run.reconstruct(rows), est.reconstruct(rows))
    codes = est.transform(rows)
    _same(run.inverse_transform(codes), est.inverse_transform(codes))
    _same(run.inverse_transform(codes.astype(np.float32)), est.inverse_transform(codes.astype(np.float32)))


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_a_memory_map_stays_one_and_gives_the_same_bits(tmp_path, folders, dtype):
    np.save(tmp_path / "rows.npy", (ROWS * 1e12).astype(dtype))
    rows = np.load(tmp_path / "rows.npy", mmap_mode="r")
    est, run = hg.load(folders["mlp"]), InferenceModel.load(folders["mlp"])
    assert isinstance(run.rows(rows), np.memmap)
    _same(run.transform(rows), est.transform(rows))


def test_images_keep_their_shape(folders):
    est, run = hg.load(folders["conv"]), InferenceModel.load(folders["conv"])
    _same(run.reconstruct(IMAGES[:5]), est.reconstruct(IMAGES[:5]))
    assert run.kind_ == "image" and run.sample_shape_ == (8, 8) and run.feature_names_in_ is None
    assert list(InferenceModel.load(folders["mlp"]).feature_names_in_) == list("abcde")


def test_bad_input_is_refused_in_one_line(folders):
    run = InferenceModel.load(folders["detector"])
    with pytest.raises(HourglassError, match="X has 4 features, but AnomalyDetector is expecting 5 features"):
        run.transform(ROWS[:, :4])
    with pytest.raises(HourglassError, match="X holds NaN"):
        run.transform(np.where(ROWS > 1, np.nan, ROWS))
    with pytest.raises(HourglassError, match="codes have 3 columns, but the model's code has 8"):
        run.inverse_transform(np.zeros((2, 3), np.float32))
    with pytest.raises(HourglassError, match=r"the codes holds? infinite values"):
        run.inverse_transform(np.full((2, 8), np.inf, np.float32))


def test_the_runner_reads_every_registered_estimators_folders():
    """The names the command line runs are the registry's, and each class clips its inputs as the runner's
    list says (a folder's scaling arrays are checked by it)."""
    assert list(ESTIMATORS) == list(REGISTERED)
    for name, cls in REGISTERED.items():
        assert cls._clip_inputs is ESTIMATORS[name], name


@pytest.mark.parametrize("kind", ["mlp", "detector"])
def test_the_cli_the_estimator_and_the_server_share_one_run_path(folders, tmp_path, monkeypatch, kind):
    """Rows are checked and encoded by the runner's own methods whether they come in through ``hourglass encode``,
    the estimator or the explorer's /api/encode (and codes decoded by its ``decode``), to the same bits."""
    calls: list[str] = []
    for method in ("rows", "encode", "decode"):
        original = getattr(InferenceModel, method)

        def spy(self, values, _original=original, _method=method):
            calls.append(_method)
            return _original(self, values)

        monkeypatch.setattr(InferenceModel, method, spy)
    rows = ROWS[:20].astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    assert main(["encode", str(folders[kind]), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "z.npy")]) == 0
    assert calls == ["rows", "encode"]
    est = hg.load(folders[kind])
    calls.clear()
    by_estimator = est.codes(rows)
    assert calls == ["rows", "encode"]
    calls.clear()
    api = _Api(est)
    by_server = np.asarray(ROUTES["/api/encode"](api, {"rows": rows.tolist()})["codes"], np.float32)
    assert calls == ["rows", "encode"]
    _same(np.load(tmp_path / "z.npy"), by_estimator)
    np.testing.assert_array_equal(by_server, by_estimator)  # JSON's float64 of float32 codes, read back
    calls.clear()
    ROUTES["/api/decode"](api, {"codes": by_estimator.tolist()})
    assert calls == ["decode"]
    # One set of words for bad rows, whichever door they came in by.
    with pytest.raises(HourglassError) as from_estimator:
        est.score_samples(ROWS[:3, :4])
    with pytest.raises(HourglassError) as from_runner:
        InferenceModel.load(folders[kind]).transform(ROWS[:3, :4])
    assert str(from_estimator.value) == str(from_runner.value)


def _edit_config(folder: Path, change) -> None:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def _edit_arrays(folder: Path, change) -> None:
    arrays = load_file(str(folder / "model.safetensors"))
    change(arrays)
    save_file(arrays, str(folder / "model.safetensors"))


def _first_weight(arrays: dict) -> str:
    return sorted(k for k in arrays if k.startswith("model."))[0]


FAULTS = {
    "no folder": lambda f: shutil.rmtree(f),
    "a file": lambda f: shutil.rmtree(f) or f.write_text("x"),
    "no weights": lambda f: (f / "model.safetensors").unlink(),
    "corrupt json": lambda f: (f / "config.json").write_text("{not json"),
    "newer format": lambda f: _edit_config(f, lambda c: c.update(format_version=99)),
    "corrupt weights": lambda f: (f / "model.safetensors").write_bytes(b"\x10\x00" * 20),
    "unknown estimator": lambda f: _edit_config(f, lambda c: c.update(estimator="Denoiser")),
    "unknown field": lambda f: _edit_config(f, lambda c: c.update(surprise=1)),
    "bad data field": lambda f: _edit_config(f, lambda c: c["data"].update(kind="sound")),
    "inconsistent": lambda f: _edit_config(f, lambda c: c["data"].update(n_features=7, sample_shape=[7])),
    "other architecture": lambda f: _edit_config(f, lambda c: c["model"]["config"].update(hidden=[5])),
    "bad params": lambda f: _edit_config(f, lambda c: c.update(params=[])),
    "bad device": lambda f: _edit_config(f, lambda c: c["params"].update(device="tpu")),
    "params disagree": lambda f: _edit_config(f, lambda c: c["params"].update(latent_dim=9)),
    "bad training": lambda f: _edit_config(f, lambda c: c["training"].update(best_epoch=99)),
    "nan weight": lambda f: _edit_arrays(f, lambda a: a.update({_first_weight(a): a[_first_weight(a)] * np.nan})),
    "missing weight": lambda f: _edit_arrays(f, lambda a: a.pop(_first_weight(a))),
    "extra weight": lambda f: _edit_arrays(f, lambda a: a.update({"model.surprise": np.zeros(2, np.float32)})),
    "zero scale": lambda f: _edit_arrays(f, lambda a: a.update({"scaler.scale": np.zeros_like(a["scaler.scale"])})),
}


@pytest.mark.parametrize("kind", ["mlp", "detector"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_bad_folder_gets_the_error_load_gives(folders, tmp_path, capsys, kind, fault):
    folder = Path(shutil.copytree(folders[kind], tmp_path / kind))
    FAULTS[fault](folder)
    with pytest.raises(HourglassError) as loading:
        hg.load(folder)
    with pytest.raises(HourglassError) as running:
        InferenceModel.load(folder)
    assert str(running.value) == str(loading.value)
    np.save(tmp_path / "rows.npy", ROWS)
    assert main(["encode", str(folder), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "z.npy")]) == 2
    assert capsys.readouterr().err.splitlines() == [f"hourglass: error: {loading.value}"]
