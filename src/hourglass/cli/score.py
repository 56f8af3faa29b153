"""``hourglass score MODEL DATA -o scores.csv``: anomaly scores, streamed in chunks of rows.

``.npy`` files are memory-mapped and CSV/TSV/Parquet tables read ``CHUNK_ROWS`` rows at a time, so a
file larger than memory is scored in constant memory; other inputs are loaded whole.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from hourglass.atomic import atomic_file
from hourglass.cli.arguments import add_data_args, add_quiet, bounded_float, bounded_int
from hourglass.cli.reading import given_options, load_options
from hourglass.cli.writing import STDOUT, check_output, report, where
from hourglass.data import CHUNK_ROWS, PARQUET_SUFFIXES, TABLE_SUFFIXES, Dataset, iter_chunks, model_input
from hourglass.errors import HourglassError

if TYPE_CHECKING:
    import pandas as pd

    from hourglass.anomaly import AnomalyDetector


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        description="Write one line per row of DATA: row id, score (higher = more normal), p_value (the share "
        "of held-out training rows that scored at least as anomalous), is_anomaly (below the model's threshold, "
        "or with --alpha, p_value < alpha) and the worst-rebuilt features. Large .npy/CSV/Parquet files "
        "are streamed.",
    )
    p.add_argument("model", metavar="MODEL", help="detector folder (from `hourglass fit-detector`)")
    add_data_args(p, "rows to score")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="scores table to write (.csv, .tsv or .parquet), or - for CSV on standard output",
    )
    p.add_argument(
        "--top", type=bounded_int(0, 1000), default=3, help="worst-rebuilt features to list per row (default: 3)"
    )
    p.add_argument(
        "--explain",
        type=bounded_int(0, 1000),
        default=0,
        metavar="K",
        help="for each flagged row, its K features farthest from its nearest normal (the nearest row the model "
        "draws that it scores normal), in words, in a nearest_normal column; 0: none (default)",
    )
    p.add_argument(
        "--alpha",
        type=bounded_float(0, 1, lo_open=True, hi_open=True),
        help="flag rows with p_value < ALPHA: at most that share of normal rows is flagged, no contamination "
        "rate to guess (default: the model's threshold). ALPHA must exceed the smallest p-value, 1/(n+1) for n "
        "held-out training rows (`hourglass info MODEL` shows it); a lower one is refused, as it could flag nothing",
    )
    add_quiet(p)
    p.set_defaults(run=run)


def read_detector(path: str) -> AnomalyDetector:
    from hourglass import load
    from hourglass.anomaly import AnomalyDetector

    model = load(path)
    if not isinstance(model, AnomalyDetector):
        raise HourglassError(f"{path}: is a plain autoencoder; train a detector with `hourglass fit-detector`")
    return model


@contextlib.contextmanager
def model_chunks(
    path: str, model: AnomalyDetector, args: argparse.Namespace
) -> Iterator[Iterator[tuple[Any, Dataset]]]:
    """DATA streamed (``hourglass.data.iter_chunks``, ``CHUNK_ROWS`` rows at a time) as (the model's input, the
    chunk: its labels ``y``, image paths ``ids`` and row numbers ``index``) per chunk, read as the model's training
    data was (``load_options``: its label column, an image folder's size and colour, unless a data flag says
    otherwise); the file is closed on leaving the block, however it is left."""
    options = load_options(model, **given_options(args))
    with contextlib.closing(iter_chunks(path, rows=CHUNK_ROWS, **options)) as chunks:
        yield ((model_input(chunk, model, where=path), chunk) for chunk in chunks)


def run(args: argparse.Namespace) -> int:
    to_stdout = args.output == STDOUT  # CSV to pipe on; the summary line then goes to standard error
    out = None if to_stdout else check_output(args.output, suffixes=TABLE_SUFFIXES, inputs=[args.model, args.data])
    suffix = ".csv" if out is None else out.suffix.lower()
    model = read_detector(args.model)
    if args.alpha is not None:
        model.check_alpha(args.alpha, "--alpha")  # before any row is read
    n = flagged = 0
    writer = None
    # The Parquet writer is closed before the file is moved into place, however the block is left.
    target = contextlib.nullcontext(sys.stdout) if out is None else atomic_file(out)
    with target as tmp, model_chunks(args.data, model, args) as chunks, contextlib.ExitStack() as stack:
        for X, chunk in chunks:
            frame = _score_frame(
                model, X, chunk.y, args.label, args.top, chunk.row_index(), alpha=args.alpha, explain=args.explain
            )
            if chunk.ids is not None:  # an image folder's files, by path
                frame.insert(1, "path", chunk.ids)
            n += len(frame)
            flagged += int(frame["is_anomaly"].sum())
            if suffix in PARQUET_SUFFIXES:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or stack.enter_context(pq.ParquetWriter(tmp, table.schema))
                writer.write_table(table)
            else:
                from hourglass.data.tables import write_csv  # spreadsheet formulas neutralised

                write_csv(frame, tmp, mode="a", header=n == len(frame), sep="\t" if suffix == ".tsv" else ",", name=out)
    if to_stdout:
        sys.stdout.flush()
    report(
        args,
        f"scored {n} rows: {flagged} flagged as anomalies ({flagged / max(n, 1):.2%}); written to {where(args.output)}",
    )
    return 0


def _score_frame(
    model: AnomalyDetector,
    X: Any,
    y: Any,
    label: str | None,
    top: int,
    row_ids: np.ndarray,
    alpha: float | None = None,
    explain: int = 0,
) -> pd.DataFrame:
    """One chunk's lines: every number and verdict is the detector's own (``score_samples``, ``p_values_of``,
    ``verdicts``, ``top_features``, ``nearest_normal``)."""
    import pandas as pd

    score = model.score_samples(X)
    columns: dict[str, object] = {"row_id": row_ids}  # positions in DATA, rows dropped or not
    if y is not None:
        columns[label or "label"] = y
    columns["score"] = score
    if alpha is not None or len(getattr(model, "calibration_", ())):  # none without held-out rows
        columns["p_value"] = model.p_values_of(score)
    is_anomaly = model.verdicts(score, alpha) == -1
    columns["is_anomaly"] = is_anomaly
    if top:
        columns["top_features"] = [";".join(row) for row in model.top_features(X, k=top)[0]]
    if explain:
        # Only the flagged rows are searched (a few seconds per thousand rows); the others stay blank.
        flagged = np.flatnonzero(is_anomaly)
        notes = [""] * len(score)
        if len(flagged):
            rows = X.iloc[flagged] if hasattr(X, "iloc") else X[flagged]  # a table keeps its column names
            found = model.nearest_normal(rows, alpha=alpha)
            for i, row in enumerate(flagged):
                notes[row] = "; ".join(found.phrases(i, explain))
        columns["nearest_normal"] = notes
    return pd.DataFrame(columns)
