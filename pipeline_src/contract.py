"""The data contract: the model's input columns and its label, read from contract.json.

pipeline_src/contract.json is the one declaration (a user adapts the pipeline to their data by
editing it); its schema is pipeline_src/contract_schema.py. Training, evaluation, serving,
monitoring, the sample data and the infrastructure (the deploy smoke test's rows) all read it
through this module, so an upstream rename fails here before any training starts.

Each feature is numeric (int or float, a closed range, nullable or not) or categorical (declared
values; a value's code is its position in the list; an unseen value is rejected or, for an open
vocabulary, read as missing). `encode` turns a frame into the model's X: numeric columns as
floats, categorical columns as their codes, missing and open-vocabulary unseen values as NaN.

This module imports only the standard library at import time: the infrastructure imports it
while synthesizing, and the SageMaker containers (no pydantic) import it to serve. The file is
validated with pydantic wherever pydantic is installed (synth, jobs, local runs, tests); the
containers receive the file synth validated, unchanged, in the source zip and the model.
The contract loads on first use of FEATURES / LABEL / ..., so an invalid file is a ContractError
the command reports in one line rather than an import-time traceback.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CONTRACT_FILE = Path(__file__).resolve().with_name("contract.json")


class ContractError(ValueError):
    """Data does not match the contract; str() is one line naming the column(s) and the rule."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # "int" (integer-valued) or "float": numeric; "category": categorical
    min: float = 0.0
    max: float = 0.0
    nullable: bool = False
    # A typical value, used to build example rows for smoke tests.
    example: object = 0.0
    values: tuple = ()  # categorical: the declared values, in code order
    unseen: str = "reject"  # categorical: "reject" or "missing" (open vocabulary)
    description: str = ""
    codes: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def categorical(self) -> bool:
        return self.dtype == "category"

    def describe(self) -> str:
        if not self.categorical:
            return f"{self.dtype} in [{_fmt(self.min)}, {_fmt(self.max)}]"
        shown = [repr(v) for v in self.values]
        if len(shown) > 6:
            shown = shown[:4] + ["...", shown[-1]]
        text = f"one of {len(self.values)} declared values ({', '.join(shown)})"
        return text + (", others read as missing" if self.unseen == "missing" else "")


@dataclass(frozen=True)
class Contract:
    features: tuple
    label: str
    positive: object
    negative: object


# How a number is spelled in text (training CSV files and text/csv requests alike): plain decimal
# or exponent notation, surrounding spaces ignored. No "nan"/"inf", no "1_000", no hex, no
# booleans: what one side accepts, the other accepts too. JSON requests carry JSON numbers.
NUMBER_SYNTAX = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")

# Where each split lives: in the artifact bucket under data/, and in the local work folder.
SPLITS = ("train", "validation", "test")
# Internal label values after validation, whatever the file spells: negative 0, positive 1.
LABEL_VALUES = (0, 1)

_LOADED: dict = {}


def load(path=None) -> Contract:
    """The contract of `path` (default pipeline_src/contract.json); ContractError naming the file
    and the problem. The default file is read once per process."""
    path = Path(path) if path is not None else CONTRACT_FILE
    if path in _LOADED:
        return _LOADED[path]
    name = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"{name}: no such file ({path})") from None
    except OSError as exc:
        raise ContractError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(
            exc, json.JSONDecodeError) else "not UTF-8 text"
        raise ContractError(f"{name}: not valid JSON: {detail}") from None
    try:
        from pipeline_src.contract_schema import validate
    except ImportError:  # a SageMaker container: the file was validated at synth (see above)
        validate = None
    if validate is not None:
        try:
            validate(data, name)
        except ValueError as exc:
            raise ContractError(str(exc)) from None
    try:
        loaded = _build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ContractError(f"{name}: not a data contract ({type(exc).__name__}: {exc})") from None
    _LOADED[path] = loaded
    return loaded


def _build(data: dict) -> Contract:
    features = []
    for item in data["features"]:
        if item["kind"] == "categorical":
            values = tuple(str(v) for v in item["values"])
            features.append(Feature(item["name"], "category", 0.0, float(len(values) - 1),
                                    bool(item.get("nullable", False)), str(item["example"]),
                                    values, item.get("unseen", "reject"),
                                    item.get("description", ""),
                                    {v: i for i, v in enumerate(values)}))
        else:
            cast = int if item["dtype"] == "int" else float
            features.append(Feature(item["name"], item["dtype"], cast(item["min"]),
                                    cast(item["max"]), bool(item.get("nullable", False)),
                                    cast(item["example"]),
                                    description=item.get("description", "")))
    label = data["label"]
    return Contract(tuple(features), label["name"], label["positive"], label["negative"])


def __getattr__(name: str):
    # FEATURES and LABEL read the file on first use (see the module docstring).
    if name in ("FEATURES", "LABEL"):
        contract = load()
        globals().update(FEATURES=contract.features, LABEL=contract.label)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _features() -> tuple:
    return load().features


def features() -> tuple:
    """The features (Feature), in request column order."""
    return load().features


def feature_names() -> list[str]:
    """The features in request column order."""
    return [f.name for f in _features()]


def categorical_mask() -> list[bool]:
    """Per feature, in feature_names() order: True for a categorical column (X holds its code)."""
    return [f.categorical for f in _features()]


def encoding() -> dict:
    """How encode() turns each column into X: "number", or a categorical column's declared values
    (their codes). Saved with a model; a model is only loaded under the same encoding."""
    return {f.name: list(f.values) if f.categorical else "number" for f in _features()}


def label_name() -> str:
    return load().label


def example_rows(n: int = 2) -> list[list]:
    """Deterministic, contract-valid rows (no label) for smoke tests of a deployed endpoint:
    numbers for numeric columns, the declared value text for categorical ones."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rows = []
    for i in range(n):
        row: list = []
        for f in _features():
            if f.categorical:
                row.append(f.values[(f.codes[f.example] + i) % len(f.values)])
            elif f.dtype == "int":
                span = int(f.max) - int(f.min) + 1
                row.append(int(f.min) + (int(f.example) - int(f.min) + i) % span)
            else:
                row.append(min(max(round(f.example + 0.75 * i, 4), f.min), f.max))
        rows.append(row)
    return rows


def csv_text(rows) -> str:
    """Rows as a text/csv request body (no header): floats as repr, text quoted where CSV needs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else str(v) for v in row])
    return out.getvalue().rstrip("\n")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def _text(value: str, limit: int = 40) -> str:
    """A value from the data, quoted, cut short: an error message stays one short line."""
    return repr(value) if len(value) <= limit else repr(value[:limit - 3]) + "..."


def _where(source: Optional[str]) -> str:
    return f"{source}: " if source else ""


def _list(names) -> str:
    return ", ".join(names)


def category_text(value):
    """A categorical cell as the text it is compared by: strings stripped of the spaces a CSV cell
    may carry ("" is missing), whole numbers as integer text (7 and 7.0 are "7", so generated and
    JSON-number values match declared codes), other numbers as repr; None/NaN is missing (None).
    TypeError for a boolean or a container."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip(" \t")
        return text or None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise TypeError("boolean")
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    raise TypeError(type(value).__name__)


def _label_text(contract: Contract) -> str:
    return f"{contract.negative!r} or {contract.positive!r}"


def rule_violations(f: Feature, values, np) -> tuple:
    """(mask, rule) for the first value rule of the contract that `values` (floats, NaN =
    missing) break for numeric feature f, else (None, None). Training frames and served requests
    both check their values here, so the two sides cannot disagree about a row."""
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


def _no_nulls(f: Feature) -> str:
    return f"expected {f.describe()}, no nulls"


def encode_cells(rows, first_row: int = 1):
    """The model's X for request rows (lists in contract column order: floats, NaN = missing, for
    numeric columns; category_text() strings, None = missing, for categorical ones); ContractError
    naming the first bad cell: "row 3, column hour: 24 is a value outside the allowed range;
    expected int in [0, 23]"."""
    import numpy as np

    features = _features()
    X = np.empty((len(rows), len(features)), dtype=float)
    for j, f in enumerate(features):
        if not f.categorical:
            X[:, j] = [row[j] for row in rows]
            continue
        for i, row in enumerate(rows):
            text = row[j]
            if text is None:
                if not f.nullable:
                    raise ContractError(f"row {first_row + i}, column {f.name}: missing is a "
                                        f"missing value; {_no_nulls(f)}")
                X[i, j] = np.nan
            elif text in f.codes:
                X[i, j] = f.codes[text]
            elif f.unseen == "missing":
                X[i, j] = np.nan
            else:
                raise ContractError(f"row {first_row + i}, column {f.name}: {_text(text)} is an "
                                    f"undeclared value; expected {f.describe()}")
    return check_rows(X, first_row)


def check_rows(X, first_row: int = 1):
    """Check the numeric columns of X (contract column order, NaN = missing); raise
    ContractError naming the first bad cell. Categorical columns hold codes encode_cells checked."""
    import numpy as np

    for j, f in enumerate(_features()):
        if f.categorical:
            continue
        mask, rule = rule_violations(f, X[:, j], np)
        if mask is not None:
            i = int(np.flatnonzero(mask)[0])
            value = X[i, j]
            shown = "missing" if np.isnan(value) else _show(float(value))
            raise ContractError(f"row {first_row + i}, column {f.name}: {shown} is a {rule}; "
                                f"expected {f.describe()}" + ("" if rule != "missing value"
                                                              else ", no nulls"))
    return X


def _category_codes(f: Feature, series, np, pd):
    """(codes: float array, NaN = missing or unseen; missing mask; unseen mask; first unseen
    text) of a categorical column, computed once per distinct value."""
    labels, uniques = pd.factorize(series, use_na_sentinel=True)
    texts, codes, unseen = [], [], []
    for value in uniques:
        try:
            text = category_text(value)
        except TypeError:
            raise ContractError(f"column {f.name}: {_show(value)} is a {type(value).__name__}; "
                                f"expected {f.describe()}") from None
        texts.append(text)
        codes.append(f.codes.get(text, np.nan) if text is not None else np.nan)
        unseen.append(text is not None and text not in f.codes)
    codes_u = np.asarray(codes + [np.nan], dtype=float)  # index -1: pandas' missing
    missing_u = np.asarray([t is None for t in texts] + [True])
    unseen_u = np.asarray(unseen + [False])
    return codes_u[labels], missing_u[labels], unseen_u[labels], texts, labels


def validate_frame(df, require_label: bool = True, source: Optional[str] = None,
                   both_classes: bool = True):
    """Check a data frame against the contract; return it with contract dtypes, in contract order
    (categorical columns as their value text, None = missing).

    Raises ContractError (one line) for a missing, renamed, extra, mistyped, null or
    out-of-range column, an undeclared category, no rows, or a label that is not the contract's
    positive/negative value with both classes present.
    """
    import numpy as np
    import pandas as pd

    contract = load()
    where = _where(source)
    _check_columns([str(c) for c in df.columns], require_label, where)
    if len(df) == 0:
        raise ContractError(f"{where}no data rows (expected at least one row under the header)")

    out = pd.DataFrame(index=df.index)
    for f in contract.features:
        if f.categorical:
            out[f.name] = _check_category_column(df[f.name], f, where, np, pd)
        else:
            out[f.name] = _check_column(df[f.name], f, where, np, pd)
    if require_label:
        out[contract.label] = label_values(df[contract.label], source, both_classes)
    return out.reset_index(drop=True)


def _check_columns(columns: list, require_label: bool, where: str) -> None:
    expected = feature_names() + ([label_name()] if require_label else [])
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


def label_values(series, source: Optional[str] = None, both_classes: bool = True):
    """The label column as 0/1 int64 (the contract's negative/positive value); ContractError for
    any other value or, with both_classes, when one class is absent."""
    import pandas as pd

    contract = load()
    where = _where(source)
    flags = {}
    for value, flag in ((contract.negative, 0), (contract.positive, 1)):
        if isinstance(value, str):
            flags[flag] = series.map(lambda v: isinstance(v, str) and v.strip(" \t") == value)
        else:
            flags[flag] = pd.to_numeric(series, errors="coerce") == value
    positive, negative = flags[1].astype(bool), flags[0].astype(bool)
    bad = ~(positive | negative)
    expected = (f"expected int in {{{contract.negative}, {contract.positive}}}"
                if isinstance(contract.positive, int) and isinstance(contract.negative, int)
                else f"expected {_label_text(contract)}")
    if bad.any():
        first = series[bad].iloc[0]
        raise ContractError(f"{where}column {contract.label}: {int(bad.sum())} value(s) not "
                            f"{contract.negative} or {contract.positive} (first: {_show(first)}); "
                            f"{expected}, no nulls")
    out = positive.astype("int64")
    if both_classes and out.nunique() < 2:
        present = contract.positive if out.iloc[0] else contract.negative
        raise ContractError(f"{where}column {contract.label}: only class {present} present; "
                            f"expected both classes {contract.negative} and {contract.positive}")
    return out


def _check_category_column(series, f: Feature, where: str, np, pd):
    try:
        codes, missing, unseen, texts, labels = _category_codes(f, series, np, pd)
    except ContractError as exc:
        raise ContractError(f"{where}{exc}") from None
    if missing.any() and not f.nullable:
        raise ContractError(f"{where}column {f.name}: {int(missing.sum())} missing value(s); "
                            f"{_no_nulls(f)}")
    if unseen.any() and f.unseen == "reject":
        first = texts[labels[unseen][0]]
        raise ContractError(f"{where}column {f.name}: {int(unseen.sum())} undeclared value(s) "
                            f"(first: {_text(first)}); expected {f.describe()}")
    text = np.asarray(texts + [None], dtype=object)[labels]
    return pd.Series(text, index=series.index, dtype=object)


# NUMBER_SYNTAX's characters. On text made only of these, float() accepts exactly the
# NUMBER_SYNTAX spellings (its grammar minus underscores, nan/inf and other whitespace, which use
# other characters): the fast path of _number_text relies on it.
_NOT_NUMBER_CHARACTERS = str.maketrans("", "", "0123456789+-.eE \t")


def _number_text(values, np, pd):
    """Floats (NaN = missing) of a column of text cells when every cell is a NUMBER_SYNTAX
    spelling, else None: one translate over the joined column and float() per cell, at C speed,
    instead of a regular expression per cell (a 5M-row training file has 100M cells)."""
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    present = values.notna().to_numpy()
    cells = values.to_numpy(dtype=object)[present]
    if len(cells) and "\x00".join(cells).translate(_NOT_NUMBER_CHARACTERS) != \
            "\x00" * (len(cells) - 1):
        return None
    try:
        numbers = cells.astype(float)
    except ValueError:
        return None
    out = np.full(len(values), np.nan)
    out[present] = numbers
    return pd.Series(out, index=values.index)


def _check_column(series, f: Feature, where: str, np, pd):
    values = series
    fast = _number_text(values, np, pd) if values.dtype == object else None
    if fast is not None:
        values = fast
    elif pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.map(
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
                                f"{_no_nulls(f)}")
        noun = {"non-finite value": "non-finite value(s)", "non-integer value":
                "non-integer value(s)"}.get(rule, "value(s) outside the allowed range")
        raise ContractError(f"{where}column {f.name}: {count} {noun} (first: "
                            f"{_show(values[mask].iloc[0])}); expected {f.describe()}")
    return values.astype("int64") if f.dtype == "int" and not np.isnan(values).any() else values


def encode(frame):
    """The model's X (float64, n_rows x n_features, contract order) of a frame holding the
    contract's columns: numeric columns as floats; a categorical column as its values' codes
    (position in the declared list); missing values, and unseen values of an open vocabulary, as
    NaN. An unseen value of a closed vocabulary is a ContractError naming row, column and value
    (validate_frame refuses it first)."""
    import numpy as np
    import pandas as pd

    features = _features()
    X = np.empty((len(frame), len(features)), dtype=float)
    for j, f in enumerate(features):
        column = frame[f.name]
        if not f.categorical:
            X[:, j] = column.to_numpy(dtype=float)
            continue
        codes, _, unseen, texts, labels = _category_codes(f, column, np, pd)
        if unseen.any() and f.unseen == "reject":
            i = int(np.flatnonzero(unseen)[0])
            raise ContractError(f"row {i + 1}, column {f.name}: {_text(texts[labels[i]])} is an "
                                f"undeclared value; expected {f.describe()}")
        X[:, j] = codes
    return X


def decode(X):
    """The inverse of encode for display and drift analysis: a frame with numbers for numeric
    columns and the declared value text (None = missing/unseen) for categorical ones."""
    import numpy as np
    import pandas as pd

    X = np.asarray(X, dtype=float).reshape(-1, len(_features()))
    columns = {}
    for j, f in enumerate(_features()):
        if f.categorical:
            lookup = np.asarray(list(f.values) + [None], dtype=object)
            codes = X[:, j]
            index = np.where(np.isnan(codes), len(f.values), np.nan_to_num(codes)).astype(int)
            columns[f.name] = pd.Series(lookup[index], dtype=object)
        elif f.dtype == "int" and not np.isnan(X[:, j]).any():
            columns[f.name] = X[:, j].astype("int64")
        else:
            columns[f.name] = X[:, j]
    return pd.DataFrame(columns)


# Rows read and checked at a time: a file's cells are Python strings until checked (~60 bytes
# each), so reading 5M rows x 21 columns at once would hold ~6 GB of text.
CHUNK_ROWS = 250_000

# What SageMaker channels and pandas read: plain CSV, or gzip-compressed CSV named *.csv.gz.
CSV_SUFFIXES = (".csv", ".csv.gz")


def read_csv(path, require_label: bool = True):
    """Read and validate one CSV file (gzip-compressed when named .gz) with a header;
    ContractError on any breach."""
    import pandas as pd

    path = Path(path)
    name = path.name or str(path)
    if path.is_dir():
        raise ContractError(f"{name}: is a folder; expected a CSV file ({path})")
    if not path.is_file():
        raise ContractError(f"{name}: no such file ({path})")
    gzipped = path.suffix == ".gz"
    kind = "gzip-compressed CSV file" if gzipped else "CSV file"
    try:
        if path.stat().st_size == 0:
            raise ContractError(f"{name}: empty file (expected a header and data rows)")
        # pandas renames a repeated header to "x.1"; read the header as written first.
        opener = gzip.open if gzipped else open
        with opener(path, "rt", newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise ContractError(f"{name}: duplicated column(s): {_list(duplicated)}")
        # Cells stay text so NUMBER_SYNTAX decides what a number is; only an empty cell is missing.
        frames = _read_chunks(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                                          compression="gzip" if gzipped else None,
                                          chunksize=CHUNK_ROWS), require_label, name)
    except pd.errors.EmptyDataError:
        raise ContractError(f"{name}: empty file (expected a header and data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, EOFError, zlib.error,
            gzip.BadGzipFile) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{name}: not a readable {kind}: {detail}") from None
    except OSError as exc:
        raise ContractError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    if not frames:
        raise ContractError(f"{name}: no data rows (expected at least one row under the header)")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if require_label:
        label_values(df[label_name()], name)  # both classes, over the whole file
    return df


def _read_chunks(reader, require_label: bool, name: str) -> list:
    """Validated frames of a chunked CSV reader; an error in a file of several chunks names the
    rows of its chunk ("train.csv: rows 250001-500000: column amount: ...")."""
    frames, first = [], 1
    for chunk in reader:
        if first == 1:
            _check_columns([str(c) for c in chunk.columns], require_label, f"{name}: ")
        try:
            frames.append(validate_frame(chunk, require_label, source=name, both_classes=False))
        except ContractError as exc:
            if first == 1 and len(chunk) < CHUNK_ROWS:
                raise
            detail = str(exc).removeprefix(f"{name}: ")
            raise ContractError(f"{name}: rows {first}-{first + len(chunk) - 1}: "
                                f"{detail}") from None
        first += len(chunk)
    return frames


def read_channel(directory, require_label: bool = True):
    """Read every CSV file (.csv or .csv.gz) in a directory (a SageMaker channel) into one
    validated frame."""
    import pandas as pd

    directory = Path(directory)
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.name.endswith(CSV_SUFFIXES)) if directory.is_dir() else []
    if not files:
        raise ContractError(f"{directory}: no .csv or .csv.gz file found")
    frames = [read_csv(p, require_label=require_label) for p in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def row_violations(matrix):
    """Boolean mask of rows of X (encode's output) that break the contract: a numeric value
    outside its range, fractional in an integer column, infinite, or missing where no nulls are
    allowed; a categorical code that is not a declared value's. The monitor counts these per row
    instead of rejecting a whole window."""
    import numpy as np

    X = np.asarray(matrix, dtype=float)
    bad = np.zeros(len(X), dtype=bool)
    for j, f in enumerate(_features()):
        column = X[:, j]
        missing = np.isnan(column)
        with np.errstate(invalid="ignore"):
            if f.categorical:
                bad |= ~missing & ((column < 0) | (column >= len(f.values))
                                   | (column != np.floor(column)))
                if not f.nullable and f.unseen == "reject":
                    bad |= missing
                continue
            if not f.nullable:
                bad |= missing
            bad |= np.isinf(column) | (column < f.min) | (column > f.max)
            if f.dtype == "int":
                bad |= ~missing & (column != np.floor(column))
    return bad
