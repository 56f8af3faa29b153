"""From whatever a user gives to what a model takes: the file types hourglass reads, and ``model_input``.

Every path into a model goes through ``model_input``: the CLI's commands (via ``read_data`` and the chunks
``score`` streams), ``hourglass serve``'s requests and the explorer. It matches the data's *form* to the model's
(columns by name, rows to the sample shape) and names the data in any error; the estimator then checks the
values themselves (finite in float32), once, whoever called it. The estimator does not call it: scikit-learn's
contract is that a fitted estimator refuses columns in another order, where a user's file may have them.

Imports nothing heavy: pandas only once a named table is handed on.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

if TYPE_CHECKING:
    import pandas as pd

ARRAY_SUFFIXES = (".npy", ".npz")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".tsv", *PARQUET_SUFFIXES)


def model_input(data: Any, model: Any = None, where: str | None = None) -> np.ndarray | pd.DataFrame | Any:
    """``data`` in the form ``model`` takes it, or for fitting one (``model=None``) in its own form.

    Parameters
    ----------
    data : Dataset, pandas.DataFrame or numpy.ndarray
        What the user gave: a loaded file or image folder (``hourglass.data.load_dataset``), a table, or
        rows (an array, a memory map, or the rows of a request). Anything else is handed on unchanged, for
        the estimator to check.
    model : fitted estimator, optional
        The model the rows are for. None: the rows are for ``fit``.
    where : str, optional
        What errors call the data (a file name); by default the Dataset's name, else ``X``.

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        Named columns (a table's, for ``fit``; the model's, in its order, for a model fitted on a table) as a
        DataFrame, so the estimator checks names at fit and use alike; otherwise the array read by position,
        shaped ``(n, *model.sample_shape_)`` (a memory map stays one, so data larger than RAM stays on disk).

    Raises
    ------
    HourglassError
        A table's columns are not the model's (missing or extra names), or rows hold another number of
        values than the model's, or images another shape.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass.data import Dataset
    >>> rows = Dataset(np.ones((3, 2), np.float32), None, "table", "t", feature_names=["b", "a"])
    >>> model_input(rows).columns.tolist()
    ['b', 'a']
    """
    where = where or (data.name if isinstance(data, Dataset) else "X")
    X, names = _rows_and_names(data)
    if names is not None:
        X = _named_input(X, names, model, where)
    if model is None or not isinstance(X, np.ndarray) or X.ndim < 2:
        return X  # for fit; a DataFrame; lists, 1-D arrays: the estimator's to check or refuse
    shape = tuple(model.sample_shape_)
    if model.kind_ == "image" and X.ndim > 2 and X.shape[1:] != shape:
        raise HourglassError(f"{where}: images of shape {X.shape[1:]}, but the model was trained on {shape}")
    width = int(np.prod(X.shape[1:]))
    if width != model.n_features_in_:
        raise HourglassError(f"{where}: {width} features per row, but the model expects {model.n_features_in_}")
    return X if X.shape[1:] == shape else X.reshape(len(X), *shape)


# What pandas.api.types.infer_dtype calls an object column numpy reads as real numbers.
_NUMBER_OBJECTS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})


def check_columns(X: Any, where: str = "X") -> None:
    """A DataFrame's columns that are not real numbers (dates, durations, periods, intervals, complex numbers,
    text, categories or objects that are not all numbers), named in one error.

    numpy cannot turn them into numbers (it raises ``DTypePromotionError``, a TypeError in its own words), and
    scikit-learn's check names a value but not its column (or prints the whole frame, for complex numbers).
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items") or not hasattr(X, "iloc"):
        return
    import pandas as pd

    api = pd.api.types

    def numbers(column: Any, dtype: Any) -> bool:
        if isinstance(dtype, pd.CategoricalDtype):
            return numbers(dtype.categories, dtype.categories.dtype)
        if api.is_object_dtype(dtype):  # numbers held as objects (Decimal, mixed int/float) are fine
            return api.infer_dtype(column, skipna=True) in _NUMBER_OBJECTS
        return api.is_numeric_dtype(dtype) and not api.is_complex_dtype(dtype)

    bad = [f"{c} ({d})" for i, (c, d) in enumerate(dtypes.items()) if not numbers(X.iloc[:, i], d)]
    if bad:
        raise HourglassError(
            f"{where}: column(s) that are not numbers: {_some(bad)}; convert them to numbers "
            "(a date to a timestamp, say) or drop them"
        )


def _rows_and_names(data: Any) -> tuple[Any, list[str] | None]:
    """The rows, and the names of their columns when they have any (all text, as scikit-learn takes them)."""
    if isinstance(data, Dataset):
        return data.X, data.feature_names or None
    columns = getattr(data, "columns", None)
    if columns is not None and hasattr(data, "to_numpy") and all(isinstance(c, str) for c in columns):
        return data, list(columns)
    return data, None


def _named_input(X: Any, names: list[str], model: Any, where: str) -> np.ndarray | pd.DataFrame:
    """A table's rows (an array or a DataFrame) as ``model_input`` hands them on: columns in the model's order."""
    order = names if model is None else _columns_in_model_order(where, names, model)
    by_name = model is None or getattr(model, "feature_names_in_", None) is not None
    if isinstance(X, np.ndarray):
        if order is not None and order != names:
            X = X[:, [names.index(c) for c in order]]
        if not by_name:
            return X
        import pandas as pd

        return pd.DataFrame(X, columns=order, copy=False)
    X = X if order is None or order == names else X[order]
    return X if by_name else X.to_numpy()  # a model fitted on an array reads a table by position


def _columns_in_model_order(where: str, columns: list[str], model: Any) -> list[str] | None:
    """The table's columns in the model's order (None: the model has no names, so by position); any
    mismatch is one error naming what is missing and what is extra."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        if len(columns) != model.n_features_in_:
            raise HourglassError(
                f"{where}: the table has {len(columns)} columns, but the model was trained on {model.n_features_in_}"
            )
        return None
    return columns_in_order(where, columns, [str(n) for n in names])


def columns_in_order(where: str, columns: list[str], expected: list[str], text: Collection[str] = ()) -> list[str]:
    """``expected`` (a model's feature columns, in its order) once the table's ``columns`` are checked to be
    those names: otherwise one error naming what is missing and what is unexpected, suggesting ``--label`` only
    when an unexpected column is among ``text``, the columns that do not hold numbers (a table read with no
    label column): a numeric or a renamed column is not a label left in."""
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing or extra:
        parts = [
            f"missing {_some(missing)}" if missing else "",
            f"unexpected {_some(extra)}" if extra else "",
        ]
        raise HourglassError(
            f"{where}: columns differ from the model's ({'; '.join(p for p in parts if p)})"
            + ("; name a label column with --label" if any(c in text for c in extra) else "")
        )
    return expected


def _some(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
