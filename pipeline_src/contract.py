"""The data contract: the one definition of the model's input columns and label.

Training, evaluation, inference and the infrastructure (the deploy smoke test) all read their
column list from here, so an upstream rename fails this check before any training starts.

This module imports only the standard library at import time: the infrastructure imports it
while synthesizing, where pandas is not needed. pandas/numpy are imported inside the functions
that check data frames.
"""
from __future__ import annotations

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
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        coerced = pd.to_numeric(values, errors="coerce")
        non_numeric = coerced.isna() & values.notna()
        if non_numeric.any():
            first = values[non_numeric].iloc[0]
            raise ContractError(f"{where}column {f.name}: {int(non_numeric.sum())} non-numeric "
                                f"value(s) (first: {str(first)!r}); expected {f.describe()}")
        values = coerced
    values = values.astype("float64")
    nulls = values.isna()
    if nulls.any() and not f.nullable:
        raise ContractError(f"{where}column {f.name}: {int(nulls.sum())} missing value(s); "
                            f"expected {f.describe()}, no nulls")
    present = values[~nulls]
    if f.dtype == "int":
        fractional = present != np.floor(present)
        if fractional.any():
            raise ContractError(f"{where}column {f.name}: {int(fractional.sum())} non-integer "
                                f"value(s) (first: {_show(present[fractional].iloc[0])}); "
                                f"expected {f.describe()}")
    outside = ~present.between(f.min, f.max) | ~np.isfinite(present)
    if outside.any():
        raise ContractError(f"{where}column {f.name}: {int(outside.sum())} value(s) outside the "
                            f"allowed range (first: {_show(present[outside].iloc[0])}); "
                            f"expected {f.describe()}")
    return values.astype("int64") if f.dtype == "int" and not nulls.any() else values


def read_csv(path, require_label: bool = True):
    """Read and validate one CSV file with a header; ContractError on any breach."""
    import pandas as pd

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ContractError(f"{name}: no such file ({path})")
    if path.stat().st_size == 0:
        raise ContractError(f"{name}: empty file (expected a header and data rows)")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ContractError(f"{name}: empty file (expected a header and data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{name}: not a readable CSV file: {detail}") from None
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
