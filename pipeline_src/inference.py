"""Inference handlers for the SageMaker scikit-learn serving container.

In: `text/csv` (no header, columns in contract order, quoted as CSV where a value needs it) or
`application/json` (`{"instances": [[...], ...]}` or a list of objects keyed by feature name).
Numeric columns take numbers; categorical columns take their declared values as text (in JSON a
string, or a whole number: 7 means "7"). An empty CSV cell or JSON null is a missing value.
Out: `application/json`: `{"predictions": [{"probability": p, "label": 0|1}, ...]}`.

The container (sagemaker-containers 2.8.6.post2) turns any exception of input_fn/predict_fn/
output_fn into an HTML 500, and refuses transform_fn beside them. So the serving module exports
model_fn and transform_fn only; transform_fn runs the three steps and answers a malformed
request with its 4xx status and `{"error": "<one line>"}`. 4xx responses count as
Invocation4XXErrors, never in the Invocation5XXErrors alarm that drives rollback
(https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
"""
from __future__ import annotations

import io
import json
import math

from pipeline_src.contract import (NUMBER_SYNTAX, ContractError, category_text, encode_cells,
                                   feature_names, load)

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024  # SageMaker real-time payloads are capped at 6 MB.
MAX_ROWS = 10_000
FAST_PATH_MAX_ROWS = 256
JSON = "application/json"
CSV = "text/csv"
# Accept values that mean "whatever you answer".
ANY_ACCEPT = ("", JSON, "*/*", "application/*")


class PayloadError(ValueError):
    """A client error: bad request body, content type or accept type; str() is one line."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def model_fn(model_dir):
    """Load the model and precompute its fast form for small requests (compile_fast)."""
    from pipeline_src.model_io import load_model

    model = load_model(model_dir)
    model["fast"] = compile_fast(model["estimator"])
    return model


def _media_type(content_type) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def handle(model, request_body, content_type, accept) -> tuple[int, str, str]:
    """One request, start to end: (HTTP status, body, media type). A malformed request is a
    4xx with {"error": ...}; anything else that fails is a server error and raises."""
    try:
        check_accept(accept)
        text, media = output_fn(predict_fn(input_fn(request_body, content_type), model), accept)
        return 200, text, media
    except PayloadError as exc:
        return exc.status_code, json.dumps({"error": exc.message}), JSON


def transform_fn(model, request_body, content_type, accept):
    """The container's per-request hook. A (body, media type) tuple becomes a 200 exactly as
    output_fn's answer did before; a client error becomes a Response with its status."""
    status, body, media = handle(model, request_body, content_type, accept)
    if status == 200:
        return body, media
    from sagemaker_containers.beta.framework import worker

    return worker.Response(response=body, status=status, mimetype=media)


def check_accept(accept) -> None:
    if _media_type(accept) not in ANY_ACCEPT:
        raise PayloadError(f"unsupported accept type {accept!r}; this model answers {JSON}", 406)


def input_fn(request_body, request_content_type):
    """Parse and check a request body into the model's X (contract.encode_cells)."""
    media = _media_type(request_content_type)
    if media not in (CSV, JSON):
        raise PayloadError(f"unsupported content type {request_content_type!r}; "
                           f"use {CSV} or {JSON}", 415)
    if request_body is None:
        raise PayloadError("empty request body")
    if len(request_body) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"request body is {len(request_body)} bytes; the limit is "
                           f"{MAX_PAYLOAD_BYTES} bytes", 413)
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = request_body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("request body is not UTF-8 text") from None
    if not request_body.strip():
        raise PayloadError("empty request body")
    return encode_request(parse_rows(request_body, media))


def parse_rows(text: str, content_type: str) -> list:
    """A decoded text/csv or application/json body as rows of cells (contract.encode_cells)."""
    return _parse_csv(text) if _media_type(content_type) == CSV else _parse_json(text)


def encode_request(rows: list):
    """The model's X of parsed rows; PayloadError naming the first cell the contract refuses."""
    try:
        return encode_cells(rows)
    except ContractError as exc:
        raise PayloadError(str(exc)) from None


def _check_row_count(n: int) -> None:
    if n > MAX_ROWS:
        raise PayloadError(f"{n} rows in one request; the limit is {MAX_ROWS}", 413)


def _wrong_length(i: int, n: int) -> PayloadError:
    return PayloadError(f"row {i} has {n} values; expected {len(feature_names())} "
                        f"({', '.join(feature_names())})")


def _parse_csv(text: str) -> list:
    import csv

    features = load().features
    try:
        # Blank lines are skipped, as before; a line of empty cells is a row of missing values.
        lines = [cells for cells in csv.reader(io.StringIO(text, newline=None), strict=True)
                 if len(cells) > 1 or (cells and cells[0].strip())]
    except csv.Error as exc:
        raise PayloadError(f"request body is not readable CSV: {exc}") from None
    _check_row_count(len(lines))
    rows = []
    for i, cells in enumerate(lines, start=1):
        if len(cells) != len(features):
            raise _wrong_length(i, len(cells))
        row = []
        for f, cell in zip(features, cells):
            if f.categorical:
                row.append(category_text(cell))
            elif not cell.strip(" \t"):
                row.append(math.nan)
            elif NUMBER_SYNTAX.fullmatch(cell):
                # float() of a valid spelling never fails; a number too large for a double
                # becomes inf, which the contract refuses as non-finite.
                row.append(float(cell))
            else:
                raise PayloadError(f"row {i}, column {f.name}: {cell.strip()!r} is not "
                                   "a number (text/csv takes no header)")
        rows.append(row)
    return rows


def _json_number(token: str) -> float:
    return float(token)


def _json_constant(token: str):
    raise PayloadError(f"{token} is not a number in JSON")


def _parse_json(text: str) -> list:
    try:
        # Numbers become floats as they are read: no 400-digit Python ints, no NaN/Infinity.
        data = json.loads(text, parse_int=_json_number, parse_float=_json_number,
                          parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    except RecursionError:
        raise PayloadError("request body is nested too deeply; expected a list of rows") from None
    if isinstance(data, dict):
        if "instances" not in data:
            raise PayloadError('JSON body must be {"instances": [[...], ...]} or a list of '
                               "objects keyed by feature name")
        data = data["instances"]
    if not isinstance(data, list):
        raise PayloadError("JSON instances must be a list of rows")
    if not data:
        raise PayloadError("no rows in the request")
    _check_row_count(len(data))
    features = load().features
    names = [f.name for f in features]
    rows = []
    for i, item in enumerate(data, start=1):
        if isinstance(item, dict):
            missing = [n for n in names if n not in item]
            extra = [k for k in item if k not in names]
            if missing or extra:
                detail = "; ".join(part for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unexpected {', '.join(map(str, extra))}" if extra else "") if part)
                raise PayloadError(f"row {i}: {detail}")
            item = [item[n] for n in names]
        elif not isinstance(item, list):
            raise PayloadError(f"row {i} is {_json_type(item)}; expected a list of "
                               "numbers or an object keyed by feature name")
        if len(item) != len(features):
            raise _wrong_length(i, len(item))
        row = []
        for f, value in zip(features, item):
            # json.loads made every JSON number a float.
            if value is None:
                row.append(None if f.categorical else math.nan)
            elif f.categorical and isinstance(value, (str, float)):
                row.append(category_text(value))
            elif type(value) is float:
                row.append(value)
            else:
                raise PayloadError(f"row {i}, column {f.name}: {_json_text(value)} is not "
                                   + ("a string or a number" if f.categorical else "a number"))
        rows.append(row)
    return rows


def _json_type(value) -> str:
    if isinstance(value, float):
        return "a number"
    return {str: "a string", bool: "a boolean", type(None): "null"}.get(type(value),
                                                                       type(value).__name__)


def _json_text(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def predict_fn(input_data, model):
    """Probability of fraud and the label at the model's own threshold, per row."""
    if model.get("fast") is not None and len(input_data) <= FAST_PATH_MAX_ROWS:
        probabilities = predict_proba_fast(model["fast"], input_data)
    else:
        probabilities = model["estimator"].predict_proba(input_data)[:, 1]
    threshold = model["threshold"]
    return [{"probability": float(p), "label": int(p >= threshold)} for p in probabilities]


def output_fn(prediction, accept):
    check_accept(accept)
    return json.dumps({"predictions": prediction}), JSON


# --- small-request fast path --------------------------------------------------------------
# scikit-learn's predict_proba spends most of a one-row call in input validation and, for the
# gradient boosting, ~5 µs of Python per tree; the compiled forms below compute the same numbers
# with a few numpy operations, in the same order of arithmetic (so the same floats, tested).
# The scorecard's own predict_proba is already a few numpy operations: it has no compiled form.

def compile_fast(estimator):
    """The fast form of a fitted model of one of the pipeline's families, or None (the model's
    own predict_proba serves it)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from pipeline_src.model import BlendClassifier

    if isinstance(estimator, BlendClassifier):
        # A member without a compiled form (the scorecard) is served by its own predict_proba.
        return {"kind": "blend", "members": [
            compile_fast(member) or {"kind": "estimator", "estimator": member}
            for member in estimator.estimators_]}
    if isinstance(estimator, HistGradientBoostingClassifier):
        return compile_trees(estimator)
    if isinstance(estimator, RandomForestClassifier):
        return compile_forest(estimator)
    if isinstance(estimator, Pipeline):
        return compile_linear(estimator)
    return None


def predict_proba_fast(fast, X):
    """Probability of the positive class of each row of X, from compile_fast's form."""
    import numpy as np

    X = np.asarray(X, dtype=float)
    walk = {"trees": _walk_trees, "forest": _walk_forest, "linear": _linear, "blend": _blend,
            "estimator": _own}[fast["kind"]]
    return walk(fast, X)


def _blend(fast, X):
    """BlendClassifier.predict_proba's mean, over the members' fast forms (the same floats)."""
    import numpy as np

    return np.mean([predict_proba_fast(member, X) for member in fast["members"]], axis=0)


def _own(fast, X):
    return fast["estimator"].predict_proba(X)[:, 1]


def _category_codes(values, categories):
    """Each value's index in the sorted, NaN-free categories; NaN where it is not one of them
    (what the estimators' ordinal encoders do with unseen and missing values)."""
    import numpy as np

    index = np.searchsorted(categories, values)
    found = index < len(categories)
    found[found] = categories[index[found]] == values[found]
    return np.where(found, index, np.nan)


def compile_trees(estimator):
    """Flatten a binary HistGradientBoostingClassifier into arrays walked for all trees at once,
    categorical splits included. Returns None for estimators this does not cover."""
    import numpy as np

    predictors = getattr(estimator, "_predictors", None)
    if predictors is None or getattr(estimator, "n_trees_per_iteration_", 0) != 1:
        return None
    # With categorical features the estimator ordinal-encodes them (unseen -> NaN) and moves
    # them first (its _preprocessor, scikit-learn 1.4); the trees index that layout.
    is_categorical = getattr(estimator, "is_categorical_", None)
    if is_categorical is None:
        order, categories = np.arange(estimator.n_features_in_), []
    else:
        is_categorical = np.asarray(is_categorical, dtype=bool)
        order = np.r_[np.flatnonzero(is_categorical), np.flatnonzero(~is_categorical)]
        encoder = estimator._preprocessor.named_transformers_["encoder"]
        categories = [np.asarray(c[~np.isnan(c)], dtype=float) for c in
                      (np.asarray(c, dtype=float) for c in encoder.categories_)]
    trees = [p[0] for p in predictors]
    nodes = [t.nodes for t in trees]
    offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]])
    bitsets = [t.raw_left_cat_bitsets for t in trees]
    bitset_offsets = np.cumsum([0] + [len(b) for b in bitsets[:-1]])
    flat = np.concatenate(nodes)
    shift = np.repeat(offsets, [len(n) for n in nodes])
    bitset_shift = np.repeat(bitset_offsets, [len(n) for n in nodes])
    # One zero row at the end: numeric nodes (and trees without categorical splits) point at it.
    all_bitsets = np.concatenate(bitsets + [np.zeros((1, 8), np.uint32)])
    bitset_index = np.where(flat["is_categorical"].astype(bool),
                            flat["bitset_idx"] + bitset_shift, len(all_bitsets) - 1)
    return {
        "kind": "trees",
        "order": order.astype(np.intp),
        "categories": categories,
        "roots": offsets.astype(np.intp),
        "feature": flat["feature_idx"].astype(np.intp),
        "threshold": flat["num_threshold"].astype(float),
        "missing_left": flat["missing_go_to_left"].astype(bool),
        "categorical": flat["is_categorical"].astype(bool),
        "bitset": bitset_index.astype(np.intp),
        "left_categories": all_bitsets.astype(np.uint32),
        "left": (flat["left"] + shift).astype(np.intp),
        "right": (flat["right"] + shift).astype(np.intp),
        "is_leaf": flat["is_leaf"].astype(bool),
        "value": flat["value"].astype(float),
        "depth": int(flat["depth"].max()) if len(flat) else 0,
        "baseline": float(np.ravel(estimator._baseline_prediction)[0]),
    }


def _walk_trees(trees, X):
    import numpy as np
    from scipy.special import expit

    X = X[:, trees["order"]]
    for j, categories in enumerate(trees["categories"]):
        X[:, j] = _category_codes(X[:, j], categories)
    node = _leaves(trees, X)
    # scikit-learn adds the trees to the baseline one at a time: cumsum keeps that order.
    terms = np.column_stack([np.full(len(X), trees["baseline"]), trees["value"][node]])
    return expit(np.cumsum(terms, axis=1)[:, -1])


def compile_forest(forest):
    """Flatten a binary RandomForestClassifier's trees into arrays walked all at once."""
    import numpy as np

    if forest.n_outputs_ != 1 or len(forest.classes_) != 2:
        return None
    trees = [e.tree_ for e in forest.estimators_]
    sizes = [t.node_count for t in trees]
    shift = np.repeat(np.cumsum([0] + sizes[:-1]), sizes)
    left = np.concatenate([t.children_left for t in trees])
    value = np.concatenate([t.value[:, 0, :] for t in trees])
    return {
        "kind": "forest",
        "roots": np.cumsum([0] + sizes[:-1]).astype(np.intp),
        "feature": np.concatenate([t.feature for t in trees]).clip(0).astype(np.intp),
        "threshold": np.concatenate([t.threshold for t in trees]),
        "missing_left": np.concatenate([t.missing_go_to_left for t in trees]).astype(bool),
        "left": np.where(left >= 0, left + shift, -1).astype(np.intp),
        "right": (np.concatenate([t.children_right for t in trees]) + shift).astype(np.intp),
        "is_leaf": left < 0,
        # A tree's probability is its leaf's class-1 weight over the leaf's total, as
        # DecisionTreeClassifier.predict_proba normalises it.
        "probability": value[:, 1] / np.where(value.sum(axis=1) == 0, 1.0, value.sum(axis=1)),
        "depth": max(e.get_depth() for e in forest.estimators_),
    }


def _walk_forest(forest, X):
    import numpy as np

    # The trees compare float32 features (scikit-learn casts X) against float64 thresholds.
    node = _leaves(forest, X.astype(np.float32).astype(float))
    # The forest adds the trees' probabilities one at a time from 0, then divides.
    terms = np.column_stack([np.zeros(len(X)), forest["probability"][node]])
    return np.cumsum(terms, axis=1)[:, -1] / len(forest["roots"])


def _leaves(trees, X):
    """The leaf each row reaches in each tree (rows x trees), all trees walked together one
    level at a time; categorical splits when the trees have them (compile_trees)."""
    import numpy as np

    rows = np.arange(len(X))[:, None]
    node = np.broadcast_to(trees["roots"], (len(X), len(trees["roots"]))).copy()
    for _ in range(trees["depth"]):
        leaf = trees["is_leaf"][node]
        if leaf.all():
            break
        x = X[rows, trees["feature"][node]]
        missing = np.isnan(x)
        go_left = x <= trees["threshold"][node]
        if "categorical" in trees:
            categorical = trees["categorical"][node]
            # Category codes are 0..k-1 (k <= 255, so < 256 bits: 8 words of 32).
            code = np.where(categorical & ~missing, x, 0).astype(np.int64)
            words = trees["left_categories"][trees["bitset"][node], code >> 5]
            in_left_set = ((words >> (code & 31).astype(np.uint32)) & 1).astype(bool)
            go_left = np.where(categorical, in_left_set, go_left)
        go_left = np.where(missing, trees["missing_left"][node], go_left)
        node = np.where(leaf, node, np.where(go_left, trees["left"][node], trees["right"][node]))
    return node


def compile_linear(pipeline):
    """The logistic-regression family (model.logistic_pipeline) as arrays: per numeric column
    its fill value and which get a missing indicator, the scaler's mean and scale, per
    categorical column its categories, and the regression's weights."""
    import numpy as np

    encode, regression = pipeline.named_steps["encode"], pipeline.named_steps["regression"]
    if len(regression.classes_) != 2:
        return None
    fast = {"kind": "linear", "numeric": None, "categorical": [],
            "coef": regression.coef_.T.copy(), "intercept": regression.intercept_.copy()}
    for name, step, columns in encode.transformers_:
        if name == "numeric":
            imputer, scaler = step.steps[0][1], step.steps[1][1]
            indicator = imputer.indicator_
            fast["numeric"] = {
                "columns": np.asarray(columns, dtype=np.intp),
                "fill": imputer.statistics_.astype(float),
                "flagged": (np.asarray(indicator.features_, dtype=np.intp)
                            if indicator is not None else np.zeros(0, np.intp)),
                "mean": scaler.mean_, "scale": scaler.scale_}
        elif name == "categorical":
            fast["categorical"] = [(column, np.asarray(c, dtype=float))
                                   for column, c in zip(columns, step.categories_)]
    return fast


def _linear(fast, X):
    import numpy as np
    from scipy.special import expit

    parts = []
    numeric = fast["numeric"]
    if numeric is not None:
        values = X[:, numeric["columns"]]
        missing = np.isnan(values)
        imputed = np.where(missing, numeric["fill"], values)
        encoded = np.hstack([imputed, missing[:, numeric["flagged"]].astype(float)])
        parts.append((encoded - numeric["mean"]) / numeric["scale"])
    for column, categories in fast["categorical"]:
        x = X[:, column][:, None]
        parts.append(((x == categories) | (np.isnan(x) & np.isnan(categories))).astype(float))
    decision = np.hstack(parts) @ fast["coef"] + fast["intercept"]
    return expit(decision.reshape(-1))
