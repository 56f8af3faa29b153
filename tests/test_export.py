"""ONNX export: every registered model exports, and its graphs compute what PyTorch and the explorer's JavaScript
decoder compute; a damaged export fails `verify`; hourglass imports and answers in one line without the extra."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hourglass import AnomalyDetector, Autoencoder
from hourglass.cli import main
from hourglass.export import browser
from hourglass.models import registered_models

pytest.importorskip("onnxruntime", reason="the export extra is not installed (pip install -e '.[export]')")
pytest.importorskip("onnxscript", reason="the export extra is not installed (pip install -e '.[export]')")
onnx = pytest.importorskip("onnx", reason="the export extra is not installed (pip install -e '.[export]')")

RNG = np.random.default_rng(0)
TABLE = (RNG.normal(size=(120, 5)) * [1, 10, 1e4, 1, 1] + [0, 0, 5e5, 0, 0]).astype(np.float32)
TABLE[:4] *= 6  # a few far-out rows, so that a detector flags some
IMAGES = RNG.integers(0, 256, size=(40, 20, 20), dtype=np.uint8)

# One tiny model per registered model name (the ensemble is the detector's), and the data it is fitted on.
KINDS = {
    "mlp": (lambda: Autoencoder(hidden=(8,), epochs=2, model="mlp", activation="gelu"), TABLE),
    "conv": (lambda: Autoencoder(hidden=(4, 8), epochs=1, model="conv"), IMAGES),
    "vae": (lambda: Autoencoder(hidden=(8,), epochs=2, model="vae", activation="elu"), TABLE),
    "mlp-ensemble": (lambda: AnomalyDetector(hidden=(8,), epochs=2, n_members=2), TABLE),
}
JS_DECODES = set(KINDS)  # what the explorer encodes, decodes and scores in the page: every model


def test_every_registered_model_is_exported_here():
    assert set(KINDS) == set(registered_models())


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """kind -> (kind, model, its folder, its data file, its export folder), each exported once, by the command line."""
    made = {}

    def get(kind):
        if kind not in made:
            make, data = KINDS[kind]
            root = tmp_path_factory.mktemp(kind)
            model = make().fit(data)
            model.save(root / "model")
            np.save(root / "data.npy", data)
            assert main(["export", str(root / "model"), "-o", str(root / "onnx")]) == 0
            made[kind] = kind, model, root / "model", root / "data.npy", root / "onnx"
        return made[kind]

    return get


@pytest.fixture(params=list(KINDS))
def exported(request, exports):
    return exports(request.param)


@pytest.fixture
def mlp(exports):
    return exports("mlp")


def verify(*args: object) -> tuple[int, str, str]:
    """``hourglass verify`` in this process: exit code, stdout, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def test_every_model_exports_and_agrees(exported):
    kind, model, folder, data, onnx_dir = exported
    code, out, err = verify(folder, data, "--onnx", onnx_dir)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1].startswith("agree: every pair within 1e-05 on ")
    checked = {tuple(line.split()[:4]) for line in lines[1:] if " vs " in line}
    assert ("codes", "pytorch", "vs", "onnxruntime") in checked and ("rows", "pytorch", "vs", "onnxruntime") in checked
    if kind in JS_DECODES and browser.unavailable(model) is None:
        for output in ("codes", "rows", "scores"):
            assert (output, "pytorch", "vs", "javascript") in checked
        assert ("rows", "onnxruntime", "vs", "javascript") in checked
    else:
        assert any(line.startswith("note: javascript column skipped: ") for line in lines)
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    graphs = manifest["graphs"]
    n, k = model.n_features_in_, model.model_.latent_dim
    assert graphs["encoder"]["inputs"] == [{"name": "rows", "dtype": "float32", "shape": ["batch", n]}]
    assert graphs["encoder"]["outputs"] == [{"name": "codes", "dtype": "float32", "shape": ["batch", k]}]
    assert graphs["decoder"]["outputs"] == [{"name": "rows", "dtype": "float32", "shape": ["batch", n]}]
    assert ("scorer" in graphs) == (kind == "mlp-ensemble")


def test_the_graphs_take_raw_rows_at_any_batch_size(exported):
    from hourglass.export import Runtime, read_export

    _, model, _, data, onnx_dir = exported
    rows = np.load(data).reshape(-1, model.n_features_in_).astype(np.float32)
    rows = np.concatenate([rows[:3] * 100, rows])  # far outside the training range: clipped (but by detectors)
    runtime = Runtime(read_export(onnx_dir, model))
    for n in (1, 5, len(rows)):
        codes = runtime.run("encoder", rows[:n])
        np.testing.assert_allclose(codes, model.codes(rows[:n]), rtol=1e-5, atol=1e-5)  # a detector's too
        back = runtime.run("decoder", codes)  # in the data's units: pixels in 0..255, the 5e5-centred column
        np.testing.assert_allclose(back, model.runner_.inverse_transform(codes), rtol=1e-5, atol=1e-3)


def test_detector_scores_and_verdicts_agree(exports):
    from hourglass.export import Runtime, read_export

    _, model, _, data, onnx_dir = exports("mlp-ensemble")
    rows = np.load(data)
    scores = Runtime(read_export(onnx_dir, model)).run("scorer", rows)
    assert scores.dtype == np.float64 and scores.shape == (len(rows),)
    np.testing.assert_allclose(scores, model.score_samples(rows), rtol=1e-5, atol=1e-5)
    flagged = model.verdicts(scores)
    assert np.array_equal(flagged, model.predict(rows)) and 0 < (flagged == -1).sum() < len(rows)
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    assert manifest["threshold"]["offset"] == model.offset_


@pytest.mark.parametrize(
    "terms",
    [{"knn_weight": 0}, {"knn_weight": 0, "iforest": True}, {}, {"iforest": True, "knn_weight": 0.5}],
    ids=["error alone", "error and forest", "error and distance (the default)", "all three"],
)
def test_the_scorer_computes_every_term_the_detector_has(terms):
    """The scorer graph's module gives ``score_samples`` with any set of terms: the members' error alone, or the
    weighted robust z-scores of the error, the forest and the nearest-neighbour distance."""
    import torch

    from hourglass.export.graphs import Scorer

    detector = AnomalyDetector(hidden=(8,), epochs=2, n_members=2, **terms).fit(TABLE)
    with torch.inference_mode():
        scores = Scorer(detector).eval()(torch.as_tensor(TABLE)).numpy()
    # The graph's distances come from |q|^2 + |r|^2 - 2 q.r: a training row's zero distance to itself is ~1e-8.
    np.testing.assert_allclose(scores, detector.score_samples(TABLE), rtol=1e-6, atol=1e-6)


def test_a_verdict_flips_only_at_the_threshold(exports):
    """A score a rounding away from the threshold may fall either side (a tie); any other flip fails."""
    from hourglass.export.verify import compare_verdicts

    detector = exports("mlp-ensemble")[1]
    at = detector.offset_
    torch_scores = np.array([at, at + 1.0, at - 1.0])
    tie = compare_verdicts(detector, torch_scores, torch_scores - [1e-9 * max(1, abs(at)), 0, 0])
    assert (tie.ok, tie.worst, tie.ties) == (True, 1.0, 1)
    flip = compare_verdicts(detector, torch_scores, torch_scores - [0, 2.0, 0])
    assert (flip.ok, flip.worst, flip.where) == (False, 1.0, "row 1")


def test_a_perturbed_export_fails_with_the_table(mlp, tmp_path):
    _, _, folder, data, onnx_dir = mlp
    damaged = tmp_path / "onnx"
    shutil.copytree(onnx_dir, damaged)
    graph = onnx.load(str(damaged / "decoder.onnx"))
    weight = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # a weight matrix, not a scaler
    array = onnx.numpy_helper.to_array(weight) + np.float32(1e-3)
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    onnx.save(graph, str(damaged / "decoder.onnx"))
    code, out, _ = verify(folder, data, "--onnx", damaged)
    assert code == 1
    failed = [line.split()[:4] for line in out.splitlines() if line.endswith("FAIL")]
    assert ["rows", "pytorch", "vs", "onnxruntime"] in failed
    assert ["codes", "pytorch", "vs", "onnxruntime"] not in failed  # the encoder was left alone
    assert out.splitlines()[-1].startswith("DISAGREE: ")


def test_an_export_is_the_same_bytes_every_time(mlp, tmp_path):
    """Reproducible: exporting again, over the earlier export, writes the same files."""
    _, _, folder, _, onnx_dir = mlp
    again = tmp_path / "again"
    shutil.copytree(onnx_dir, again)
    (again / "encoder.onnx").write_bytes(b"stale")
    assert main(["export", str(folder), "-o", str(again)]) == 0
    for name in ("encoder.onnx", "decoder.onnx", "manifest.json"):
        assert (again / name).read_bytes() == (onnx_dir / name).read_bytes(), name


def test_bad_inputs_are_one_line_exit_2(mlp, tmp_path, capsys):
    _, _, folder, data, onnx_dir = mlp
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((4, 7), np.float32))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    other = tmp_path / "other"
    Autoencoder(latent_dim=3, hidden=(8,), epochs=1).fit(TABLE).save(other)
    junk = tmp_path / "junk"
    shutil.copytree(onnx_dir, junk)
    (junk / "encoder.onnx").write_bytes(b"not a graph")
    versions = {}
    for version in (2, 1.0, None):  # a newer export, and versions that are none
        versions[version] = tmp_path / f"v{version}"
        shutil.copytree(onnx_dir, versions[version])
        manifest = json.loads((onnx_dir / "manifest.json").read_text()) | {"format_version": version}
        (versions[version] / "manifest.json").write_text(json.dumps(manifest))
    cases = [
        (["export", str(tmp_path / "plain"), "-o", str(tmp_path / "x")], "plain"),  # not a model folder
        (["export", str(folder), "-o", str(tmp_path / "plain")], "is not an hourglass ONNX export"),
        (["verify", str(tmp_path / "plain"), str(data)], "plain"),
        (["verify", str(folder), str(wide)], "7"),  # DATA of the wrong width
        (["verify", str(folder), str(data), "--onnx", str(tmp_path / "plain")], "is not an hourglass ONNX export"),
        (["verify", str(other), str(data), "--onnx", str(onnx_dir)], "an export of another model"),
        (["verify", str(folder), str(data), "--onnx", str(junk)], "encoder.onnx: onnxruntime cannot load it"),
        (["verify", str(folder), str(data), "--onnx", str(versions[2])], "export format version 2 is newer"),
        (["verify", str(folder), str(data), "--onnx", str(versions[1.0])], "format_version must be a whole number"),
        (["verify", str(folder), str(data), "--onnx", str(versions[None])], "format_version must be a whole number"),
    ]
    for args, said in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hourglass: error:") and said in err, (args, err)
    assert not (tmp_path / "x").exists() and (tmp_path / "plain" / "notes.txt").read_text() == "mine"


def test_hourglass_works_without_the_export_extra(mlp, tmp_path):
    """With onnx, onnxscript and onnxruntime unimportable: hourglass and the export modules import, and `export`
    and `verify` say in one line how to install them (before any work: nothing is written)."""
    _, _, folder, data, onnx_dir = mlp
    script = textwrap.dedent(f"""
        import sys
        for name in ("onnx", "onnxscript", "onnxruntime"):
            sys.modules[name] = None  # import fails, as where the package is not installed
        import hourglass, hourglass.export, hourglass.cli.export, hourglass.cli.verify
        from hourglass.cli import main
        codes = [main(["export", {str(folder)!r}, "-o", {str(tmp_path / "x")!r}]),
                 main(["verify", {str(folder)!r}, {str(data)!r}, "--onnx", {str(onnx_dir)!r}])]
        print(codes)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "[2, 2]", done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "hourglass: error: export needs the onnx package: pip install 'hourglass-ae[export]'",
        "hourglass: error: verify needs the onnxruntime package: pip install 'hourglass-ae[export]'",
    ]
    assert not (tmp_path / "x").exists()
