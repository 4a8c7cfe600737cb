"""The data contract: the one definition of the model's input columns and label.

Training, evaluation, inference and the infrastructure (the deploy smoke test) all read their
column list from here, so an upstream rename fails this check before any training starts.

This module imports only the standard library at import time: the infrastructure imports it
while synthesizing, where pandas is not needed. pandas/numpy are imported inside the functions
that check data frames.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


class ContractError(ValueError):
    """Data does not match the contract; str() is one line naming the column(s) and the rule."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # "int" (integer-valued) or "float"
    min: float
    max: float
    nullable: bool = False
    # A typical value, used to build example rows for smoke tests.
    example: float = 0.0

    def describe(self) -> str:
        return f"{self.dtype} in [{_fmt(self.min)}, {_fmt(self.max)}]"


# Column order is part of the contract: text/csv inference payloads carry no header.
FEATURES: tuple[Feature, ...] = (
    Feature("amount", "float", 0.0, 1_000_000.0, example=42.5),
    Feature("hour", "int", 0, 23, example=14),
    Feature("day_of_week", "int", 0, 6, example=2),
    Feature("merchant_category", "int", 0, 19, example=7),
    Feature("distance_from_home", "float", 0.0, 100_000.0, example=8.25),
    Feature("online_transaction", "int", 0, 1, example=0),
    Feature("previous_failures", "int", 0, 1_000, example=0),
    Feature("account_age_days", "int", 0, 36_500, example=730),
    # The generator draws these from normal distributions, so negative values are legitimate.
    Feature("credit_limit", "float", -1_000_000.0, 10_000_000.0, example=5000.0),
    Feature("current_balance", "float", -1_000_000.0, 10_000_000.0, example=1800.0),
) + tuple(Feature(f"feature_{i}", "float", -1_000.0, 1_000.0, example=round(0.1 * (i - 5), 2))
          for i in range(10))

LABEL = "is_fraud"
LABEL_VALUES = (0, 1)

# How a number is spelled in text (training CSV files and text/csv requests alike): plain decimal
# or exponent notation, surrounding spaces ignored. No "nan"/"inf", no "1_000", no hex, no
# booleans: what one side accepts, the other accepts too. JSON requests carry JSON numbers.
NUMBER_SYNTAX = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")

# Where each split lives: in the artifact bucket under data/, and in the local work folder.
SPLITS = ("train", "validation", "test")


def feature_names() -> list[str]:
    return [f.name for f in FEATURES]


def example_rows(n: int = 2) -> list[list[float | int]]:
    """Deterministic, contract-valid rows (no label) for smoke tests of a deployed endpoint."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rows = []
    for i in range(n):
        row: list[float | int] = []
        for f in FEATURES:
            if f.dtype == "int":
                span = int(f.max) - int(f.min) + 1
                row.append(int(f.min) + (int(f.example) - int(f.min) + i) % span)
            else:
                row.append(min(max(round(f.example + 0.75 * i, 4), f.min), f.max))
        rows.append(row)
    return rows


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def _where(source: Optional[str]) -> str:
    return f"{source}: " if source else ""


def _list(names) -> str:
    return ", ".join(names)


def rule_violations(f: Feature, values, np) -> tuple:
    """(mask, rule) for the first value rule of the contract that `values` (floats, NaN =
    missing) break for feature f, else (None, None). Training frames and served requests both
    check their values here, so the two sides cannot disagree about a row."""
    missing = np.isnan(values)
    if missing.any() and not f.nullable:
        return missing, "missing value"
    present = ~missing
    infinite = present & np.isinf(values)
    if infinite.any():
        return infinite, "non-finite value"
    if f.dtype == "int":
        fractional = present & (values != np.floor(values))
        if fractional.any():
            return fractional, "non-integer value"
    outside = present & ((values < f.min) | (values > f.max))
    if outside.any():
        return outside, "value outside the allowed range"
    return None, None


def check_rows(X, first_row: int = 1):
    """Check a float matrix of request rows (contract column order, NaN = missing); raise
    ContractError naming the first bad cell: "row 3, column hour: 24 is a value outside the
    allowed range; expected int in [0, 23]"."""
    import numpy as np

    for j, f in enumerate(FEATURES):
        mask, rule = rule_violations(f, X[:, j], np)
        if mask is not None:
            i = int(np.flatnonzero(mask)[0])
            value = X[i, j]
            shown = "missing" if np.isnan(value) else _show(float(value))
            raise ContractError(f"row {first_row + i}, column {f.name}: {shown} is a {rule}; "
                                f"expected {f.describe()}" + ("" if rule != "missing value"
                                                              else ", no nulls"))
    return X


def validate_frame(df, require_label: bool = True, source: Optional[str] = None):
    """Check a data frame against the contract; return it with contract dtypes, in contract order.

    Raises ContractError (one line) for a missing, renamed, extra, mistyped, null or
    out-of-range column, no rows, or a label that is not 0/1 with both classes present.
    """
    import numpy as np
    import pandas as pd

    where = _where(source)
    expected = feature_names() + ([LABEL] if require_label else [])
    columns = [str(c) for c in df.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ContractError(f"{where}duplicated column(s): {_list(duplicated)}")
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s): {_list(missing)}")
        if extra:
            parts.append(f"unexpected column(s): {_list(extra)}")
        hint = " (renamed upstream?)" if missing and extra else ""
        raise ContractError(f"{where}{'; '.join(parts)}{hint}; expected columns: {_list(expected)}")
    if len(df) == 0:
        raise ContractError(f"{where}no data rows (expected at least one row under the header)")

    out = pd.DataFrame(index=df.index)
    for f in FEATURES:
        out[f.name] = _check_column(df[f.name], f, where, np, pd)
    if require_label:
        label = df[LABEL]
        numeric = pd.to_numeric(label, errors="coerce")
        bad = label.isna() | numeric.isna() | ~numeric.isin(LABEL_VALUES)
        if bad.any():
            first = label[bad].iloc[0]
            raise ContractError(f"{where}column {LABEL}: {int(bad.sum())} value(s) not 0 or 1 "
                                f"(first: {_show(first)}); expected int in {{0, 1}}, no nulls")
        classes = sorted(int(v) for v in numeric.unique())
        if len(classes) < 2:
            raise ContractError(f"{where}column {LABEL}: only class {classes[0]} present; "
                                "expected both classes 0 and 1")
        out[LABEL] = numeric.astype("int64")
    return out.reset_index(drop=True)


def _check_column(series, f: Feature, where: str, np, pd):
    values = series
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.map(
            lambda v: isinstance(v, (bool, np.bool_))).any()):
        raise ContractError(f"{where}column {f.name}: boolean value(s); expected {f.describe()} "
                            "written as a number")
    if not pd.api.types.is_numeric_dtype(values):
        text = values.map(lambda v: isinstance(v, str))
        syntax = values.where(text, "0").astype(str).str.fullmatch(NUMBER_SYNTAX.pattern)
        bad = text & ~syntax.astype(bool)
        if bad.any():
            first = values[bad].iloc[0]
            raise ContractError(f"{where}column {f.name}: {int(bad.sum())} non-numeric "
                                f"value(s) (first: {str(first)!r}); expected {f.describe()}")
        # float() as in serving: a number too large for a double becomes inf, not missing.
        values = pd.Series(np.asarray(values.to_numpy(dtype=object), dtype=float),
                           index=values.index)
    values = values.astype("float64")
    mask, rule = rule_violations(f, values.to_numpy(), np)
    if mask is not None:
        count = int(mask.sum())
        if rule == "missing value":
            raise ContractError(f"{where}column {f.name}: {count} missing value(s); "
                                f"expected {f.describe()}, no nulls")
        noun = {"non-finite value": "non-finite value(s)", "non-integer value":
                "non-integer value(s)"}.get(rule, "value(s) outside the allowed range")
        raise ContractError(f"{where}column {f.name}: {count} {noun} (first: "
                            f"{_show(values[mask].iloc[0])}); expected {f.describe()}")
    return values.astype("int64") if f.dtype == "int" and not np.isnan(values).any() else values


def read_csv(path, require_label: bool = True):
    """Read and validate one CSV file with a header; ContractError on any breach."""
    import pandas as pd

    path = Path(path)
    name = path.name or str(path)
    if path.is_dir():
        raise ContractError(f"{name}: is a folder; expected a CSV file ({path})")
    if not path.is_file():
        raise ContractError(f"{name}: no such file ({path})")
    try:
        if path.stat().st_size == 0:
            raise ContractError(f"{name}: empty file (expected a header and data rows)")
        # pandas renames a repeated header to "x.1"; read the header as written first.
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise ContractError(f"{name}: duplicated column(s): {_list(duplicated)}")
        # Cells stay text so NUMBER_SYNTAX decides what a number is; only an empty cell is missing.
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ContractError(f"{name}: empty file (expected a header and data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{name}: not a readable CSV file: {detail}") from None
    except OSError as exc:
        raise ContractError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    return validate_frame(df, require_label=require_label, source=name)


def read_channel(directory, require_label: bool = True):
    """Read every CSV file in a directory (a SageMaker channel) into one validated frame."""
    import pandas as pd

    directory = Path(directory)
    files = sorted(p for p in directory.glob("*.csv") if p.is_file()) if directory.is_dir() else []
    if not files:
        raise ContractError(f"{directory}: no .csv file found")
    frames = [read_csv(p, require_label=require_label) for p in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def row_violations(matrix):
    """Boolean mask of rows (a float matrix in contract column order) that break the contract:
    a value outside its range, a fractional value in an integer column, or not finite. The
    monitor counts these per row instead of rejecting a whole window."""
    import numpy as np

    X = np.asarray(matrix, dtype=float)
    bad = ~np.isfinite(X).all(axis=1)
    for j, f in enumerate(FEATURES):
        column = X[:, j]
        with np.errstate(invalid="ignore"):
            bad |= (column < f.min) | (column > f.max)
            if f.dtype == "int":
                bad |= column != np.floor(column)
    return bad
