"""SageMaker endpoint data capture: reading it back into contract rows, and writing it.

Format and layout as AWS documents them ("Capture data from real-time endpoint" and "View
captured data", https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html):
JSON Lines files under ``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/`` named
``<mm>-<ss>-<mmm>-<uuid>.jsonl``; one line per request::

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json",
                                        "mode": "OUTPUT", "data": "...", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<caller's InferenceId>",
                       "inferenceTime": "2026-11-22T05:00:01Z"},
     "eventVersion": "0"}

Request bodies are parsed by the serving handler's own ``input_fn`` and checked against the data
contract; a request that does not parse, an output that does not match it, or a row outside the
contract is counted as a contract violation, never dropped silently.
"""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from pipeline_src.contract import features

PROBABILITY = "probability"
PREDICTED_LABEL = "predicted_label"
INFERENCE_ID = "inference_id"
ROW = "row"
EVENT_TIME = "inference_time"


@dataclass
class CaptureRows:
    """Captured requests as rows: features, the endpoint's output, and where each row came from."""

    features: list = field(default_factory=list)       # numpy arrays, one per request
    probabilities: list = field(default_factory=list)  # floats
    labels: list = field(default_factory=list)         # ints (the endpoint's decision)
    inference_ids: list = field(default_factory=list)  # str or None, per row
    row_numbers: list = field(default_factory=list)    # row within its request (1-based)
    times: list = field(default_factory=list)
    # Open-vocabulary categorical columns: the values as sent (X holds NaN for an unseen one), so
    # the drift test compares what clients send with the reference data as it is.
    open_values: list = field(default_factory=list)  # per request: rows of texts
    records: int = 0
    violations: int = 0
    violation_reasons: dict = field(default_factory=dict)

    def violation(self, reason: str, rows: int = 1) -> None:
        self.violations += rows
        self.violation_reasons[reason] = self.violation_reasons.get(reason, 0) + rows

    def frame(self):
        """One data frame: contract columns, probability, predicted_label, inference_id, row."""
        import numpy as np
        import pandas as pd

        from pipeline_src.contract import decode

        matrix = (np.concatenate(self.features) if self.features
                  else np.empty((0, len(features()))))
        # Categorical columns back to their values: the reference frame holds those.
        df = decode(matrix)
        opened = [row for request in self.open_values for row in request]
        for k, f in enumerate(open_columns()):
            df[f.name] = pd.Series([row[k] for row in opened] if opened else [None] * len(df),
                                   dtype=object)
        df[PROBABILITY] = np.asarray(self.probabilities, dtype=float)
        df[PREDICTED_LABEL] = np.asarray(self.labels, dtype="int64")
        df[INFERENCE_ID] = pd.Series(self.inference_ids, dtype="object")
        df[ROW] = np.asarray(self.row_numbers, dtype="int64")
        df[EVENT_TIME] = pd.Series(self.times, dtype="object")
        return df


def open_columns() -> list:
    """The categorical features whose unseen values are read as missing (open vocabularies)."""
    return [f for f in features() if f.categorical and f.unseen == "missing"]


def _decode(part: dict) -> str:
    data = part.get("data")
    if not isinstance(data, str):
        raise ValueError("no data")
    if part.get("encoding") == "BASE64":
        return base64.b64decode(data).decode("utf-8")
    return data


def _outputs(text: str) -> list:
    predictions = json.loads(text)["predictions"]
    out = []
    for item in predictions:
        p, label = item["probability"], item["label"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError("probability")
        out.append((float(p), int(label)))
    return out


def add_record(rows: CaptureRows, line: str) -> None:
    """Parse one capture line into rows (or count why it cannot be used)."""
    import numpy as np

    from pipeline_src.contract import row_violations
    from pipeline_src.inference import PayloadError, input_fn, parse_rows

    rows.records += 1
    try:
        record = json.loads(line)
        capture = record["captureData"]
        request, response = capture["endpointInput"], capture.get("endpointOutput")
        body = _decode(request)
        content_type = request.get("observedContentType", "")
        metadata = record.get("eventMetadata") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        rows.violation("unreadable capture record")
        return
    try:
        X = input_fn(body, content_type)
    except PayloadError:
        rows.violation("request body not parseable under the contract")
        return
    if response is None:
        rows.violation("no captured output", len(X))
        return
    try:
        outputs = _outputs(_decode(response))
    except (ValueError, KeyError, TypeError, AttributeError):
        rows.violation("output not the model's JSON", len(X))
        return
    if len(outputs) != len(X):
        rows.violation("output row count differs from input", len(X))
        return
    bad = row_violations(X)
    if bad.any():
        rows.violation("value outside the contract", int(bad.sum()))
    keep = ~bad
    if not keep.any():
        return
    inference_id = metadata.get("inferenceId")
    time = metadata.get("inferenceTime")
    rows.features.append(X[keep])
    columns = [j for j, f in enumerate(features()) if f in open_columns()]
    if columns:
        # input_fn accepted this body; its cells hold the sent text of each open column.
        cells = parse_rows(body, content_type)
        rows.open_values.append([[cells[i][j] for j in columns] for i in np.flatnonzero(keep)])
    for i in np.flatnonzero(keep):
        p, label = outputs[i]
        rows.probabilities.append(p)
        rows.labels.append(label)
        rows.inference_ids.append(inference_id)
        rows.row_numbers.append(int(i) + 1)
        rows.times.append(time)


def read_lines(lines, rows: CaptureRows | None = None) -> CaptureRows:
    rows = rows if rows is not None else CaptureRows()
    for line in lines:
        if line.strip():
            add_record(rows, line)
    return rows


def capture_files(directory) -> list[Path]:
    """Every capture file under a folder, in time order (the layout sorts by path)."""
    return sorted(p for p in Path(directory).rglob("*.jsonl") if p.is_file())


def read_directory(directory) -> CaptureRows:
    rows = CaptureRows()
    for path in capture_files(directory):
        with open(path, encoding="utf-8", errors="replace") as handle:
            read_lines(handle, rows)
    return rows


# --- layout -------------------------------------------------------------------------------------

def hour_prefix(endpoint: str, variant: str, hour: datetime) -> str:
    """``<endpoint>/<variant>/yyyy/mm/dd/hh`` of one UTC hour."""
    return f"{endpoint}/{variant}/{hour.astimezone(timezone.utc):%Y/%m/%d/%H}"


def window_hours(end: datetime, hours: int) -> list[datetime]:
    """The whole UTC hours of a window ending at ``end`` (rounded down to the hour)."""
    end = end.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return [end - timedelta(hours=h) for h in range(hours, 0, -1)]


def file_name(when: datetime, unique: str | None = None) -> str:
    return f"{when:%M-%S}-{when.microsecond // 1000:03d}-{unique or uuid.uuid4()}.jsonl"


# --- writing (sample_capture and tests) ---------------------------------------------------------

def record_line(body: str, content_type: str, output: str, when: datetime, event_id: str,
                inference_id: str | None = None) -> str:
    """One capture line as the endpoint writes it (CSV/JSON captured as text, per the endpoint
    config's CaptureContentTypeHeader)."""
    encoding = "CSV" if content_type.startswith("text/csv") else "JSON"
    metadata = {"eventId": event_id}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT",
                              "data": body, "encoding": encoding},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": output, "encoding": "JSON"},
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }, separators=(",", ":"))


def relative_path(endpoint: str, variant: str, when: datetime, unique: str) -> PurePosixPath:
    return PurePosixPath(hour_prefix(endpoint, variant, when)) / file_name(when, unique)
