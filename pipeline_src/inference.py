"""Inference handlers for the SageMaker scikit-learn serving container.

In: `text/csv` (no header, columns in contract order) or `application/json`
(`{"instances": [[...], ...]}` or a list of objects keyed by feature name).
Out: `application/json`: `{"predictions": [{"probability": p, "label": 0|1}, ...]}`.

A malformed request raises PayloadError (HTTP 4xx with a one-line reason), never a crash.
"""
from __future__ import annotations

import json
import math

from pipeline_src.contract import FEATURES, feature_names

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024  # SageMaker real-time payloads are capped at 6 MB.
MAX_ROWS = 10_000
FAST_PATH_MAX_ROWS = 256
JSON = "application/json"
CSV = "text/csv"

# Status codes reach the caller only where the serving stack honours them: the sagemaker-inference
# toolkit (the scikit-learn container's multi-model server) maps its error class to the status it
# carries. The container's single-model server (sagemaker-containers) wraps any handler error in
# its ClientError and answers 500; the one-line message still lands in the endpoint's logs.
try:
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ServingError
except ImportError:  # pragma: no cover - depends on the serving container
    _ServingError = None


class PayloadError(ValueError):
    """A client error: bad request body, content type or accept type; str() is one line."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


if _ServingError is not None:  # pragma: no cover
    class PayloadError(PayloadError, _ServingError):  # type: ignore[no-redef]  # noqa: F811
        def __init__(self, message: str, status_code: int = 400):
            ValueError.__init__(self, message)
            _ServingError.__init__(self, status_code, message)
            self.status_code = status_code
            self.message = message

        def __str__(self):
            return self.message


def model_fn(model_dir):
    """Load the model and precompute a fast tree walker for small requests."""
    from pipeline_src.model_io import load_model

    model = load_model(model_dir)
    model["fast"] = compile_trees(model["estimator"])
    return model


def _media_type(content_type) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def input_fn(request_body, request_content_type):
    """Parse and check a request body into a float matrix in contract column order."""
    import numpy as np

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
    rows = _parse_csv(request_body) if media == CSV else _parse_json(request_body)
    if len(rows) > MAX_ROWS:
        raise PayloadError(f"{len(rows)} rows in one request; the limit is {MAX_ROWS}", 413)
    n = len(FEATURES)
    for i, row in enumerate(rows, start=1):
        if len(row) != n:
            raise PayloadError(f"row {i} has {len(row)} values; expected {n} "
                               f"({', '.join(feature_names())})")
        for j, value in enumerate(row):
            if not _is_number(value):
                raise PayloadError(f"row {i}, column {FEATURES[j].name}: {value!r} is not a "
                                   "finite number")
    return np.asarray(rows, dtype=float)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _parse_csv(text: str) -> list[list[float]]:
    rows = []
    for i, line in enumerate(text.strip().splitlines(), start=1):
        if not line.strip():
            continue
        row = []
        for j, cell in enumerate(line.split(",")):
            try:
                row.append(float(cell))
            except ValueError:
                name = FEATURES[j].name if j < len(FEATURES) else f"#{j + 1}"
                raise PayloadError(f"row {i}, column {name}: {cell.strip()!r} is not a number "
                                   "(text/csv takes no header)") from None
        rows.append(row)
    return rows


def _parse_json(text: str) -> list[list]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    if isinstance(data, dict):
        if "instances" not in data:
            raise PayloadError('JSON body must be {"instances": [[...], ...]} or a list of '
                               "objects keyed by feature name")
        data = data["instances"]
    if not isinstance(data, list):
        raise PayloadError("JSON instances must be a list of rows")
    if not data:
        raise PayloadError("no rows in the request")
    names = feature_names()
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
            rows.append([item[n] for n in names])
        elif isinstance(item, list):
            rows.append(item)
        else:
            raise PayloadError(f"row {i} is {type(item).__name__}; expected a list of "
                               "numbers or an object keyed by feature name")
    return rows


def predict_fn(input_data, model):
    """Probability of fraud and the label at the model's own threshold, per row."""
    if model.get("fast") is not None and len(input_data) <= FAST_PATH_MAX_ROWS:
        probabilities = predict_proba_fast(model["fast"], input_data)
    else:
        probabilities = model["estimator"].predict_proba(input_data)[:, 1]
    threshold = model["threshold"]
    return [{"probability": float(p), "label": int(p >= threshold)} for p in probabilities]


def output_fn(prediction, accept):
    media = _media_type(accept) or JSON
    if media not in (JSON, "*/*", "application/*"):
        raise PayloadError(f"unsupported accept type {accept!r}; this model answers {JSON}", 406)
    return json.dumps({"predictions": prediction}), JSON


# --- small-request fast path --------------------------------------------------------------

def compile_trees(estimator):
    """Flatten a binary HistGradientBoostingClassifier into arrays walked for all trees at once.

    scikit-learn's predict_proba costs ~5 µs of Python overhead per tree per call, which
    dominates a one-row request; walking every tree together with numpy removes it. Returns
    None for estimators this does not cover (they use predict_proba).
    """
    import numpy as np

    predictors = getattr(estimator, "_predictors", None)
    if (predictors is None or getattr(estimator, "n_trees_per_iteration_", 0) != 1
            or getattr(estimator, "is_categorical_", None) is not None):
        return None
    nodes = [p[0].nodes for p in predictors]
    offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]])
    flat = np.concatenate(nodes)
    shift = np.repeat(offsets, [len(n) for n in nodes])
    return {
        "roots": offsets.astype(np.intp),
        "feature": flat["feature_idx"].astype(np.intp),
        "threshold": flat["num_threshold"].astype(float),
        "missing_left": flat["missing_go_to_left"].astype(bool),
        "left": (flat["left"] + shift).astype(np.intp),
        "right": (flat["right"] + shift).astype(np.intp),
        "is_leaf": flat["is_leaf"].astype(bool),
        "value": flat["value"].astype(float),
        "depth": int(flat["depth"].max()) if len(flat) else 0,
        "baseline": float(np.ravel(estimator._baseline_prediction)[0]),
    }


def predict_proba_fast(trees, X):
    import numpy as np

    X = np.asarray(X, dtype=float)
    rows = np.arange(len(X))[:, None]
    node = np.broadcast_to(trees["roots"], (len(X), len(trees["roots"]))).copy()
    for _ in range(trees["depth"]):
        leaf = trees["is_leaf"][node]
        if leaf.all():
            break
        x = X[rows, trees["feature"][node]]
        go_left = np.where(np.isnan(x), trees["missing_left"][node], x <= trees["threshold"][node])
        node = np.where(leaf, node, np.where(go_left, trees["left"][node], trees["right"][node]))
    raw = trees["baseline"] + trees["value"][node].sum(axis=1)
    return 1.0 / (1.0 + np.exp(-raw))
