import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import hourglass as hg
from hourglass.cli import COMMANDS, main


@pytest.fixture
def csv(tmp_path, table):
    frame = pd.DataFrame(table, columns=list("abcde"))
    frame["group"] = np.repeat(["p", "q"], 100)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_info_encode_decode_reconstruct_on_a_table(tmp_path, csv, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(csv),
                "--label",
                "group",
                "--latent",
                "2",
                "--hidden",
                "16",
                "--epochs",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "model written to" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    assert "5 -> 16 -> 2" in capsys.readouterr().out
    assert main(["encode", str(out), str(csv), "--label", "group", "-o", str(tmp_path / "codes.csv")]) == 0
    codes = pd.read_csv(tmp_path / "codes.csv")
    assert list(codes.columns) == ["row_id", "z1", "z2", "label"] and len(codes) == 200
    assert codes["row_id"].tolist() == list(range(200))
    assert main(["decode", str(out), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "dec.csv")]) == 0
    decoded = pd.read_csv(tmp_path / "dec.csv")
    assert list(decoded.columns) == ["row_id", *"abcde"]  # each decoded row named as its code was
    model = hg.load(out)
    np.testing.assert_allclose(
        decoded[list("abcde")].to_numpy(),
        model.inverse_transform(codes[["z1", "z2"]].to_numpy()),
        rtol=1e-4,
        atol=1e-4,
    )
    assert main(["reconstruct", str(out), str(csv), "--label", "group", "-o", str(tmp_path / "rec.npy")]) == 0
    assert np.load(tmp_path / "rec.npy").shape == (200, 5)


def test_images_decode_to_a_folder_of_pngs(tmp_path, small_model):
    model_dir = small_model.save(tmp_path / "m")
    assert main(["encode", str(model_dir), "mnist7", "-o", str(tmp_path / "z.npy")]) == 0
    np.save(tmp_path / "z10.npy", np.load(tmp_path / "z.npy")[:10])
    assert main(["decode", str(model_dir), str(tmp_path / "z10.npy"), "-o", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 10
    assert main(["reconstruct", str(model_dir), "mnist7", "-o", str(tmp_path / "r.npy")]) == 0
    assert np.load(tmp_path / "r.npy").shape == (5000, 7, 7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.csv"], "no such file"),
        (["encode", "{model}", "digits8", "-o", "{tmp}/z.csv"], "images of shape (8, 8)"),
        (["encode", "{model}", "{tmp}/nan.csv", "-o", "{tmp}/z.csv"], "NaN"),
        (["encode", "{model}", "{tmp}/empty.csv", "-o", "{tmp}/z.csv"], "empty"),
        (["encode", "{model}", "{tmp}/words.csv", "-o", "{tmp}/z.csv"], "non-numeric"),
        (["encode", "{tmp}", "mnist7", "-o", "{tmp}/z.csv"], "config.json is missing"),
        (["decode", "{model}", "{tmp}/words.csv", "-o", "{tmp}/out.npy"], "non-numeric"),
        (["train", "mnist7", "--out", "{tmp}"], "not an hourglass model folder"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, small_model, capsys, args, message):
    model = small_model.save(tmp_path / "m")
    (tmp_path / "nan.csv").write_text("a\n" + "1\n" * 48 + "nan\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "words.csv").write_text("a,b\n1,x\n")
    (tmp_path / "keep.txt").write_text("mine")
    filled = [a.format(model=model, tmp=tmp_path) for a in args]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "z.csv").exists() and (tmp_path / "keep.txt").read_text() == "mine"


def test_help_everywhere_and_a_real_process():
    for command in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
    done = subprocess.run(
        [sys.executable, "-m", "hourglass", "encode", "nope", "mnist7", "-o", "x.csv"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith("hourglass: error:") and "Traceback" not in done.stderr


def test_each_command_says_in_one_line_what_it_wrote_unless_quiet(tmp_path, small_model, capsys):
    model = str(small_model.save(tmp_path / "m"))
    np.save(tmp_path / "z.npy", small_model.transform(hg.load_dataset("mnist7").X[:7]))
    walk = ["--steps", "5", "-o", "{out}.npy"]
    runs = {
        "encoded 5,000 rows to codes of 2 numbers": ["encode", model, "mnist7", "-o", "{out}.csv"],
        "decoded 7 codes to rows of 49 values": ["decode", model, str(tmp_path / "z.npy"), "-o", "{out}.npy"],
        "reconstructed 5,000 rows": ["reconstruct", model, "mnist7", "-o", "{out}.npy"],
        "walked row 3 to row 9 in 5 frames": ["interpolate", model, "mnist7", "--from", "3", "--to", "9", *walk],
        "generated 6 samples": ["sample", model, "-n", "6", "-o", "{out}.npy"],
    }
    for i, (said, args) in enumerate(runs.items()):
        out = str(tmp_path / f"out{i}")
        filled = [a.format(out=out) for a in args]
        assert main(filled) == 0
        printed = capsys.readouterr()
        assert printed.out.splitlines() == [f"{said}: {filled[-1]}"] and printed.err == ""
        assert main([*filled, "--quiet"]) == 0
        assert capsys.readouterr() == ("", "")


def test_dash_writes_a_csv_to_standard_output_and_the_summary_to_standard_error(tmp_path, small_model):
    model = str(small_model.save(tmp_path / "m"))
    written = {}
    for args, columns in [
        (["encode", model, "mnist7"], ["row_id", "z1", "z2", "label"]),
        (["reconstruct", model, "mnist7"], ["row_id", *(f"x{i + 1}" for i in range(49))]),
        (["sample", model, "-n", "4"], [f"x{i + 1}" for i in range(49)]),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "hourglass", *args, "-o", "-"], capture_output=True, text=True, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split(",") == columns and len(lines) == (5 if args[0] == "sample" else 5001)
        assert done.stderr.endswith(": standard output\n") and done.stderr.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no file called "-"
        written[args[0]] = done.stdout
    assert main(["encode", model, "mnist7", "-o", str(tmp_path / "z.csv"), "--quiet"]) == 0
    assert written["encode"] == (tmp_path / "z.csv").read_text()  # the same table as the file


@pytest.mark.parametrize("command", ["train", "fit-detector"])
def test_every_training_flag_has_help_that_shows_its_default(command):
    from hourglass.cli import build_parser

    parser = build_parser(command)._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, action.option_strings
        if action.default not in (None, False):  # a flag that is off, or an option left unset, has none to show
            assert "default" in action.help, action.option_strings


def _png_folder(folder, images) -> None:
    from PIL import Image

    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"img{i:02d}.png")


def test_score_reads_data_as_the_detector_was_trained_or_as_the_data_flags_say(tmp_path, capsys):
    """score takes the data flags: a folder of PNGs of another size is read at the detector's size (remembered,
    or --image-size), --max-pixels refuses it, and a table's --label column is left out of scoring."""
    digits = hg.load_dataset("mnist7")
    _png_folder(tmp_path / "train", digits.X[:60])
    big = [np.kron(x, np.ones((2, 2), np.uint8)) for x in digits.X[60:72]]  # 14x14: another size
    _png_folder(tmp_path / "big", big)
    det = tmp_path / "det"
    fit = ["fit-detector", str(tmp_path / "train"), "--out", str(det), "--epochs", "1", "--members", "1", "--quiet"]
    assert main(fit) == 0
    remembered, sized = tmp_path / "remembered.csv", tmp_path / "sized.csv"
    assert main(["score", str(det), str(tmp_path / "big"), "-o", str(remembered), "--quiet"]) == 0
    args = ["score", str(det), str(tmp_path / "big"), "-o", str(sized), "--image-size", "7x7", "--color", "gray"]
    assert main([*args, "--quiet"]) == 0
    scores = pd.read_csv(remembered)
    assert len(scores) == 12 and scores["path"].tolist() == [f"img{i:02d}.png" for i in range(12)]
    pd.testing.assert_frame_equal(scores, pd.read_csv(sized))
    capsys.readouterr()
    limited = ["score", str(det), str(tmp_path / "big"), "-o", str(tmp_path / "x.csv"), "--max-pixels", "100"]
    assert main(limited) == 2
    assert "100" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
    assert main(["score", str(det), str(tmp_path / "big"), "-o", "-", "--image-size", "0x7"]) == 2
    assert "--image-size" in capsys.readouterr().err

    frame = pd.DataFrame(digits.X[:80].reshape(80, -1).astype(float), columns=[f"p{i}" for i in range(49)])
    frame.insert(3, "kind", np.repeat(["a", "b"], 40))
    frame.to_csv(tmp_path / "t.csv", index=False)
    table_det = tmp_path / "table-det"
    fit = ["fit-detector", str(tmp_path / "t.csv"), "--label", "kind", "--out", str(table_det), "--epochs", "1"]
    assert main([*fit, "--quiet"]) == 0
    for extra, column in [([], "label"), (["--label", "kind"], "kind")]:  # remembered, or named again
        assert main(["score", str(table_det), str(tmp_path / "t.csv"), "-o", str(tmp_path / "s.csv"), *extra]) == 0
        scores = pd.read_csv(tmp_path / "s.csv")
        assert scores[column].tolist() == frame["kind"].tolist() and len(scores) == 80
    rows = frame.drop(columns="kind").to_numpy().copy()
    rows[5, 0] = np.nan
    np.save(tmp_path / "holey.npy", rows)
    dropped = ["score", str(table_det), str(tmp_path / "holey.npy"), "-o", str(tmp_path / "d.csv"), "--drop-nonfinite"]
    assert main(dropped) == 0
    assert pd.read_csv(tmp_path / "d.csv")["row_id"].tolist() == [i for i in range(80) if i != 5]  # as in DATA
