"""``hourglass score MODEL DATA -o scores.csv``: anomaly scores, streamed in chunks of rows.

``.npy`` files are memory-mapped and CSV/TSV/Parquet tables read ``CHUNK_ROWS`` rows at a time, so a
file larger than memory is scored in constant memory; other inputs are loaded whole.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hourglass.atomic import atomic_file
from hourglass.cli.common import bounded_int, check_output, model_columns
from hourglass.errors import HourglassError

if TYPE_CHECKING:
    import pandas as pd

    from hourglass.anomaly import AnomalyDetector

CHUNK_ROWS = 65_536


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        description="Write one line per row of DATA: row id, score (higher = more normal), is_anomaly "
        "(below the model's threshold) and the worst-rebuilt features. Large .npy/CSV/Parquet files "
        "are streamed.",
    )
    p.add_argument("model", metavar="MODEL", help="detector folder (from `hourglass fit-detector`)")
    p.add_argument("data", metavar="DATA", help="rows to score: .npy, .npz, .csv/.tsv/.parquet, a built-in name")
    p.add_argument("-o", "--output", required=True, help="scores table to write (.csv, .tsv or .parquet)")
    p.add_argument("--label", help="table column to leave out of scoring (copied to the output)")
    p.add_argument(
        "--top", type=bounded_int(0, 1000), default=3, help="worst-rebuilt features to list per row (default: 3)"
    )
    p.set_defaults(run=run)


def read_detector(path: str) -> AnomalyDetector:
    from hourglass.anomaly import AnomalyDetector
    from hourglass.estimator import load

    model = load(path)
    if not isinstance(model, AnomalyDetector):
        raise HourglassError(f"{path}: is a plain autoencoder; train a detector with `hourglass fit-detector`")
    return model


def iter_chunks(
    path: str, model: AnomalyDetector, label: str | None = None, rows: int = CHUNK_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield (rows as float32 in the model's feature order, labels or None) one chunk at a time."""
    from hourglass.data import load_dataset

    file = Path(path)
    suffix = file.suffix.lower()
    if file.is_file() and suffix in (".csv", ".tsv", ".parquet", ".pq"):
        yield from _table_chunks(file, model, label, rows)
        return
    data = load_dataset(path, label=label)  # .npy comes back memory-mapped: slicing reads only the chunk
    if data.n_features != model.n_features_in_:
        raise HourglassError(
            f"{path}: rows have {data.n_features} features, but the model expects {model.n_features_in_}"
        )
    for start in range(0, len(data), rows):
        chunk = np.asarray(data.X[start : start + rows], np.float32).reshape(-1, model.n_features_in_)
        if not np.isfinite(chunk).all():
            raise HourglassError(f"{path}: rows {start}..{start + len(chunk) - 1} hold NaN or infinite values")
        yield chunk, None if data.y is None else np.asarray(data.y[start : start + rows])


def as_model_input(model: AnomalyDetector, X: np.ndarray) -> np.ndarray | pd.DataFrame:
    """Rows as the model was fitted on them: named columns for a model fitted on a table."""
    import pandas as pd

    names = getattr(model, "feature_names_in_", None)
    return X if names is None or X.ndim != 2 else pd.DataFrame(X, columns=names, copy=False)


def _table_chunks(file: Path, model: AnomalyDetector, label: str | None, rows: int):
    import pandas as pd

    from hourglass.data.tables import frame_to_rows

    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            frames = (b.to_pandas() for b in pq.ParquetFile(file).iter_batches(batch_size=rows))
        else:
            frames = pd.read_csv(file, sep="\t" if file.suffix.lower() == ".tsv" else ",", chunksize=rows)
        columns, seen = None, False
        for frame in frames:
            X, y, names = frame_to_rows(frame, file, label)
            if not seen:
                columns, seen = model_columns(file, names, model), True
            if columns:
                X = X[:, [names.index(c) for c in columns]]
            if not np.isfinite(X).all():
                raise HourglassError(
                    f"{file}: rows hold NaN or infinite values, or values too large for float32; clean them"
                )
            yield X, y
        if not seen:
            raise HourglassError(f"{file}: the table has no data rows")
    except HourglassError:
        raise
    except (ValueError, TypeError) as e:  # non-numeric cells, ragged rows
        raise HourglassError(f"{file}: cannot read the table as numbers ({str(e).splitlines()[0]})") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{file}: cannot parse the table ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def run(args: argparse.Namespace) -> int:
    out = check_output(args.output, suffixes=(".csv", ".tsv", ".parquet", ".pq"), inputs=[args.model, args.data])
    suffix = out.suffix.lower()
    model = read_detector(args.model)
    n = flagged = 0
    writer = None
    with atomic_file(out) as tmp:
        for X, y in iter_chunks(args.data, model, args.label):
            frame = _score_frame(model, X, y, args.label, args.top, first_id=n)
            n += len(frame)
            flagged += int(frame["is_anomaly"].sum())
            if suffix in (".parquet", ".pq"):
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            else:
                frame.to_csv(tmp, mode="a", header=n == len(frame), index=False, sep="\t" if suffix == ".tsv" else ",")
        if writer is not None:
            writer.close()
    print(f"scored {n} rows: {flagged} flagged as anomalies ({flagged / max(n, 1):.2%}); written to {out}")
    return 0


def _score_frame(model: AnomalyDetector, X: np.ndarray, y, label: str | None, top: int, first_id: int) -> pd.DataFrame:
    import pandas as pd

    X = as_model_input(model, X)
    score = model.score_samples(X)
    columns: dict[str, object] = {"row_id": np.arange(first_id, first_id + len(X))}
    if y is not None:
        columns[label or "label"] = y
    columns["score"] = score
    columns["is_anomaly"] = score < model.offset_
    if top:
        columns["top_features"] = [";".join(row) for row in model.top_features(X, k=top)[0]]
    return pd.DataFrame(columns)
