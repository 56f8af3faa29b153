"""One input path (``hourglass.data.model_input``): whatever form the same rows arrive in, the model sees the same."""

import base64
import json
import threading
import urllib.request

import numpy as np
import pandas as pd
import pytest

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.data import Dataset, iter_chunks, load_dataset, model_input
from hourglass.errors import HourglassError
from hourglass.explorer.page import explorer_data
from hourglass.explorer.server import make_server

COLUMNS = ["a", "b", "c", "d"]
SHUFFLED = ["c", "a", "d", "b"]


@pytest.fixture(scope="module")
def table_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    return hg.Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(pd.DataFrame(X, columns=COLUMNS)), X


def _served_codes(model, rows: np.ndarray) -> np.ndarray:
    server = make_server(model, rows, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = json.dumps({"rows": rows.tolist()}).encode()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/encode"
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return np.asarray(json.loads(response.read())["codes"], np.float32)
    finally:
        server.shutdown()
        server.server_close()


def test_the_same_rows_in_every_form_give_the_same_codes(tmp_path, table_model):
    model, X = table_model
    rows = X[:30]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    expected = model.transform(frame)
    labelled = frame[SHUFFLED].assign(label=np.arange(30))  # columns in another order, and a label column
    labelled.to_csv(tmp_path / "rows.csv", index=False)
    labelled.to_parquet(tmp_path / "rows.parquet")
    model.save(tmp_path / "model")
    assert main(["encode", str(tmp_path / "model"), str(tmp_path / "rows.csv"), "--label", "label", "-o",
                 str(tmp_path / "z.npy")]) == 0  # fmt: skip
    page = explorer_data(model, frame[SHUFFLED], max_points=1000)
    forms = {
        "array": model.transform(model_input(rows, model)),
        "DataFrame, columns shuffled": model.transform(model_input(frame[SHUFFLED], model)),
        "parquet file": model.transform(model_input(load_dataset(tmp_path / "rows.parquet", label="label"), model)),
        "CSV file through the CLI": np.load(tmp_path / "z.npy"),
        "request to the server": _served_codes(model, rows),
        "explorer page": np.frombuffer(base64.b64decode(page["codes"]), np.float32).reshape(30, 2),
    }
    for form, codes in forms.items():
        np.testing.assert_array_equal(codes, expected, err_msg=form)


def test_model_input_matches_columns_by_name_and_names_the_source(table_model):
    model, X = table_model
    named = Dataset(X[:5, [2, 0, 3, 1]], None, "table", "t", feature_names=SHUFFLED)
    given = model_input(named, model)
    assert list(given.columns) == COLUMNS
    np.testing.assert_array_equal(given.to_numpy(), X[:5])
    other = Dataset(X[:5], None, "table", "t", feature_names=["a", "b", "c", "e"])
    with pytest.raises(HourglassError, match=r"^t\.csv: columns differ .*missing d; unexpected e\)$"):  # no --label
        model_input(other, model, where="t.csv")
    with pytest.raises(HourglassError, match=r"^rows: 3 features per row, but the model expects 4"):
        model_input(X[:5, :3], model, where="rows")
    # For fit: a named table becomes a DataFrame so the estimator records its names; an array stays one.
    assert list(model_input(named).columns) == SHUFFLED
    assert model_input(X) is X


def test_image_rows_take_the_models_shape_and_stay_on_disk(tmp_path, small_model, mnist7):
    flat = mnist7.X[:10].reshape(10, -1)
    shaped = model_input(flat, small_model)
    assert shaped.shape == (10, 7, 7)
    np.testing.assert_array_equal(small_model.transform(shaped), small_model.transform(mnist7.X[:10]))
    np.save(tmp_path / "big.npy", mnist7.X[:100])
    mapped = load_dataset(tmp_path / "big.npy")
    assert isinstance(model_input(mapped, small_model), np.memmap)  # never copied into memory
    with pytest.raises(HourglassError, match=r"images of shape \(8, 8\), but the model was trained on \(7, 7\)"):
        model_input(load_dataset("digits8"), small_model)


def test_chunks_stream_tables_and_arrays(tmp_path):
    X = np.arange(250 * 3, dtype=np.float64).reshape(250, 3)
    pd.DataFrame(X, columns=["x", "y", "z"]).assign(label=np.arange(250)).to_csv(tmp_path / "t.csv", index=False)
    np.save(tmp_path / "t.npy", X)
    for name, label in (("t.csv", "label"), ("t.npy", None)):
        chunks = list(iter_chunks(tmp_path / name, label, rows=100))
        assert [len(c) for c in chunks] == [100, 100, 50]
        assert all(c.X.dtype == np.float32 for c in chunks)
        np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), X.astype(np.float32))
    assert chunks[0].y is None and list(iter_chunks(tmp_path / "t.csv", "label", rows=100))[2].y[0] == 200


def test_score_takes_verdicts_and_features_from_the_detector(tmp_path, monkeypatch):
    import hourglass.cli.score as score_cli

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(300, 4)) * [1, 1, 1, 5], columns=COLUMNS)
    detector = AnomalyDetector(hidden=(8,), n_members=2, epochs=2, contamination=0.1).fit(frame)
    detector.save(tmp_path / "det")
    frame[SHUFFLED].to_csv(tmp_path / "rows.csv", index=False)
    monkeypatch.setattr(score_cli, "CHUNK_ROWS", 64)  # several chunks
    assert main(["score", str(tmp_path / "det"), str(tmp_path / "rows.csv"), "-o", str(tmp_path / "s.csv")]) == 0
    scores = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_array_equal(scores["is_anomaly"], detector.predict(frame) == -1)
    assert scores["top_features"].tolist() == [";".join(r) for r in detector.top_features(frame)[0]]
    np.testing.assert_array_equal(detector.verdicts(detector.score_samples(frame)), detector.predict(frame))
