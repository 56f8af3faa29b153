"""What a model folder tells a newcomer: `info`'s data lines, `plot` on the remembered data, the help of
flags whose default a model supplies, and the held-out comparison in the notebook card and fit-detector."""

import json

import numpy as np
import pandas as pd
import pytest

from hourglass.anomaly import AnomalyDetector
from hourglass.cli import build_parser, main
from hourglass.params import FIGURE_FILES


@pytest.fixture
def trained(tmp_path, table, capsys):
    """A table with a label column, and a model `hourglass train` fitted on it (so its folder remembers both)."""
    frame = pd.DataFrame(table, columns=["radius", "texture", "area", "smooth", "noise"])
    frame["diagnosis"] = np.repeat(["B", "M"], 100)
    csv = tmp_path / "cancer.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "model"
    args = ["train", str(csv), "--label", "diagnosis", "--latent", "2", "--hidden", "8", "--epochs", "3"]
    assert main([*args, "--drop-nonfinite", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    return csv, out


def test_info_shows_where_the_data_came_from_and_how_it_was_read(trained, capsys):
    csv, out = trained
    assert main(["info", str(out)]) == 0
    lines = {line[:12].strip(): line[12:] for line in capsys.readouterr().out.splitlines()}
    assert lines["data"] == str(csv.resolve())
    assert lines["read with"] == (
        "label column: diagnosis; 5 feature columns: radius, texture, area, smooth, noise; rows with NaN/inf dropped"
    )
    assert main(["info", str(out), "--json"]) == 0  # the raw config.json holds the same
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["options"]["label"] == "diagnosis" and data["source"] == str(csv.resolve())


def test_info_of_a_model_fitted_in_python_says_nothing_of_data_it_does_not_know(tmp_path, small_model, capsys):
    small_model.save(tmp_path / "m")
    assert main(["info", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "input " in printed and "\ndata " not in printed and "read with" not in printed


def test_plot_without_data_draws_the_remembered_training_data(trained, tmp_path, capsys):
    _, out = trained
    assert main(["plot", str(out), "-o", str(tmp_path / "figs"), "--only", "reconstructions"]) == 0
    assert (tmp_path / "figs" / FIGURE_FILES["reconstructions"]).is_file()


def test_plot_without_data_of_a_model_that_remembers_none_is_one_line(tmp_path, small_model, capsys):
    small_model.save(tmp_path / "m")
    assert main(["plot", str(tmp_path / "m"), "-o", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not record its training data; pass DATA" in err
    assert not (tmp_path / "figs").exists()


@pytest.mark.parametrize("command", ["encode", "plot", "explore", "reconstruct"])
def test_model_commands_say_that_the_model_supplies_the_data_defaults(command, capsys):
    text = _help(command, capsys)
    assert "25000000" not in text and "the model's limit, else 25,000,000" in text
    assert "(default: the model's" in text  # --label, --image-size


def test_training_commands_say_the_plain_default(capsys):
    for command in ("train", "fit-detector"):
        text = _help(command, capsys)
        assert "(default: 25,000,000; the model remembers a limit given)" in text
        assert "the model's limit" not in text


def _help(command: str, capsys) -> str:
    """The command's --help, its lines joined (argparse wraps them where it likes)."""
    with pytest.raises(SystemExit):
        build_parser(command).parse_args([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_card_shows_the_held_out_comparison_and_the_warnings(small_model, mnist7):
    page = small_model._repr_html_()
    h = small_model.history_.held_out
    assert f"MSE {h['mse']:.4g} on {h['rows']:,} held-out rows (scaled units); predicting the mean:" in page
    assert f"PCA-2: {h['pca_mse']:.4g}" in page
    assert "no better than predicting the mean" not in page
    dead = type(small_model)(hidden=(16,), epochs=3, lr=1e-9, seed=0)  # learns nothing (see test_dead_model)
    with pytest.warns(UserWarning) as caught:  # and that it kept epoch 1
        dead.fit(mnist7.X[:300])
    assert any("no better than predicting the mean" in str(w.message) for w in caught)
    assert "no better than predicting the mean" in dead._repr_html_()


def test_fit_detector_prints_the_held_out_comparison_at_one_members_width(tmp_path, table, capsys):
    np.save(tmp_path / "t.npy", table)
    out = tmp_path / "det"
    assert main(["fit-detector", str(tmp_path / "t.npy"), "--latent", "2", "--members", "3", "--epochs", "3",
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "held out: MSE " in printed and "predicting the mean:" in printed
    assert "PCA-2:" in printed  # one member's code (2 numbers), not the three members' side by side (6)
    detector = AnomalyDetector(latent_dim=2, n_members=3, epochs=3).fit(table)
    assert detector.history_.held_out["pca_width"] == 2
