import json
import pickle

import numpy as np
import pytest

import hourglass as hg
from hourglass import HourglassError


@pytest.fixture
def saved(tmp_path, small_model):
    return small_model.save(tmp_path / "model")


def test_folder_holds_config_and_safetensors(saved):
    assert sorted(p.name for p in saved.iterdir() if not p.name.endswith(".png")) == [
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((saved / "config.json").read_text())
    assert config["format_version"] == 2 and config["hourglass_version"] == hg.__version__
    assert config["data"]["sample_shape"] == [7, 7] and config["data"]["scaling"] == "minmax"
    assert config["training"]["epochs_run"] == len(config["training"]["train_loss"])


def test_truncated_weights(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(HourglassError, match="corrupt weights"):
        hg.load(saved)


def test_pickle_file_in_place_of_weights_is_refused(saved):
    (saved / "model.safetensors").write_bytes(pickle.dumps({"x": np.zeros(3)}))
    with pytest.raises(HourglassError, match="corrupt weights"):
        hg.load(saved)


def test_a_scaling_without_its_clip_range_is_refused(saved, tmp_path, table):
    """One layout per format version: an autoencoder's scaling holds its training range (its inputs are clipped
    to a window around it), a detector's does not (it measures how far out a row lies); the other is refused."""
    from safetensors.numpy import load_file, save_file

    from hourglass.anomaly import AnomalyDetector

    arrays = load_file(str(saved / "model.safetensors"))
    save_file(
        {k: v for k, v in arrays.items() if k not in ("scaler.low", "scaler.high")}, str(saved / "model.safetensors")
    )
    with pytest.raises(HourglassError, match=r"tensor 'scaler\.(low|high)' is missing"):
        hg.load(saved)
    detector = AnomalyDetector(hidden=(4,), epochs=1).fit(table).save(tmp_path / "det")
    arrays = load_file(str(detector / "model.safetensors"))
    width = len(arrays["scaler.offset"])
    extra = {"scaler.low": np.zeros(width, np.float32), "scaler.high": np.ones(width, np.float32)}
    save_file(arrays | extra, str(detector / "model.safetensors"))
    with pytest.raises(HourglassError, match="unexpected"):
        hg.load(detector)


def test_edited_and_future_configs(saved):
    path = saved / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(HourglassError, match="newer than this hourglass reads"):
        hg.load(saved)
    config["model"]["config"]["hidden"] = [99]
    path.write_text(json.dumps(config))
    with pytest.raises(HourglassError, match="model files do not match"):
        hg.load(saved)
    path.write_text("{not json")
    with pytest.raises(HourglassError, match="corrupt JSON"):
        hg.load(saved)


def test_missing_files_and_wrong_paths(saved, tmp_path):
    (saved / "model.safetensors").unlink()
    with pytest.raises(HourglassError, match=r"model\.safetensors is missing"):
        hg.load(saved)
    (tmp_path / "file").write_text("x")
    with pytest.raises(HourglassError, match="is a file"):
        hg.load(tmp_path / "file")
    with pytest.raises(HourglassError, match="no such model folder"):
        hg.load(tmp_path / "absent")


def test_overwrite_is_atomic_and_never_clobbers_user_folders(tmp_path, small_model):
    target = small_model.save(tmp_path / "m")
    small_model.save(target)  # replacing a model folder is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp or backup folders left
    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(HourglassError, match="not an hourglass model folder"):
        small_model.save(user)
    assert (user / "holiday.jpg").read_bytes() == b"precious"


def test_every_file_of_a_model_folder_follows_the_umask(tmp_path, small_model):
    """model.safetensors was written 0600 (safetensors' own file creation) while config.json was 0644."""
    import os

    before = os.umask(0o022)
    try:
        folder = small_model.save(tmp_path / "model")
    finally:
        os.umask(before)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
    assert folder.stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks a machine without a GPU")
def test_a_model_trained_on_a_gpu_loads_and_runs_on_a_machine_without_one(small_model, mnist7, tmp_path):
    """Weights trained on CUDA run the same on the CPU: a laptop must not refuse them (fit still insists)."""
    from hourglass.cli import main
    from hourglass.inference import InferenceModel

    folder = small_model.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["params"]["device"] = "cuda"  # as `fit(device="cuda")` on a GPU machine saves it
    (folder / "config.json").write_text(json.dumps(config))
    X = mnist7.X[:5]
    loaded = hg.load(folder)
    assert loaded.device == "cuda" and np.array_equal(loaded.transform(X), small_model.transform(X))
    assert np.array_equal(InferenceModel.load(folder).transform(X), small_model.transform(X))
    assert main(["encode", str(folder), "mnist7", "-o", str(tmp_path / "z.csv"), "--quiet"]) == 0
    with pytest.raises(HourglassError, match="no CUDA GPU"):
        loaded.fit(X)
