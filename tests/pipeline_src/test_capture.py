"""Reading SageMaker data capture back into contract rows.

Fixture lines follow the record AWS documents in "Capture data from real-time endpoint" / "View
captured data" (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html):
captureData.endpointInput / endpointOutput with observedContentType, mode, data and encoding
(CSV, JSON or BASE64), eventMetadata with eventId, inferenceId (when the caller passed one) and
inferenceTime, and eventVersion "0".
"""
import base64
import json

import numpy as np
import pytest

from pipeline_src import capture
from pipeline_src.contract import encode, example_rows, feature_names, row_violations

ROW = example_rows(1)[0]
CSV_ROW = ",".join(str(v) for v in ROW)
OUTPUT = json.dumps({"predictions": [{"probability": 0.25, "label": 0}]})


def documented_record(data, content_type="text/csv", encoding="CSV", output=OUTPUT,
                      output_encoding="JSON", inference_id="id-1"):
    metadata = {"eventId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "inferenceTime": "2026-11-22T05:25:49Z"}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT",
                              "data": data, "encoding": encoding},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": output, "encoding": output_encoding}},
        "eventMetadata": metadata, "eventVersion": "0"})


def test_csv_json_and_base64_bodies_give_the_same_row():
    lines = [
        documented_record(CSV_ROW),
        documented_record(json.dumps({"instances": [ROW]}), "application/json", "JSON"),
        documented_record(base64.b64encode(CSV_ROW.encode()).decode(), "text/csv", "BASE64",
                          output=base64.b64encode(OUTPUT.encode()).decode(),
                          output_encoding="BASE64"),
    ]
    rows = capture.read_lines(lines)
    df = rows.frame()
    assert rows.records == 3 and rows.violations == 0 and len(df) == 3
    # Categorical columns come back as their declared values, as the reference frame holds them.
    assert df[feature_names()].values.tolist() == [ROW] * 3
    assert list(df[capture.PROBABILITY]) == [0.25] * 3
    assert list(df[capture.INFERENCE_ID]) == ["id-1"] * 3 and list(df[capture.ROW]) == [1, 1, 1]


def test_multi_row_request_keeps_row_numbers():
    two = json.dumps({"predictions": [{"probability": 0.1, "label": 0},
                                      {"probability": 0.9, "label": 1}]})
    rows = capture.read_lines([documented_record(CSV_ROW + "\n" + CSV_ROW, output=two)])
    df = rows.frame()
    assert list(df[capture.ROW]) == [1, 2]
    assert list(df[capture.PREDICTED_LABEL]) == [0, 1]


@pytest.mark.parametrize("line, reason", [
    ("not json", "unreadable capture record"),
    (json.dumps({"eventVersion": "0"}), "unreadable capture record"),
    (documented_record("1,2,3"), "request body not parseable under the contract"),
    (documented_record(CSV_ROW, output="<html>500</html>"), "output not the model's JSON"),
    (documented_record(CSV_ROW + "\n" + CSV_ROW), "output row count differs from input"),
    # The serving parser itself refuses out-of-range values; either way the row is counted.
    (documented_record(CSV_ROW.replace(str(ROW[1]), "99", 1)),
     ("value outside the contract", "request body not parseable under the contract")),
])
def test_rows_that_break_the_contract_are_counted_with_a_reason(line, reason):
    rows = capture.read_lines([line, documented_record(CSV_ROW)])
    assert rows.records == 2
    reasons = reason if isinstance(reason, tuple) else (reason,)
    assert rows.violations >= 1 and set(reasons) & set(rows.violation_reasons)
    assert len(rows.frame()) == 1  # the good record still counts


def test_row_violations_checks_range_integers_finiteness_and_codes():
    import pandas as pd

    good = encode(pd.DataFrame(example_rows(5), columns=feature_names()))
    bad = good.copy()
    column = feature_names().index("merchant_category")
    bad[0, 1] = 24       # hour outside 0..23
    bad[1, 2] = 2.5      # day_of_week not an integer
    bad[2, column] = 20  # not the code of a declared value ("0".."19")
    bad[3, column] = np.nan  # missing, in a closed, non-nullable vocabulary
    assert list(row_violations(good)) == [False] * 5
    assert list(row_violations(bad)) == [True, True, True, True, False]


def test_layout_matches_data_capture():
    from datetime import datetime, timezone

    when = datetime(2026, 11, 22, 5, 7, 9, 123000, tzinfo=timezone.utc)
    path = capture.relative_path("ep", "AllTraffic", when, "9a9273ca-09c2-45d3-96ab-fc7be2402d43")
    assert str(path) == ("ep/AllTraffic/2026/11/22/05/"
                         "07-09-123-9a9273ca-09c2-45d3-96ab-fc7be2402d43.jsonl")
    hours = capture.window_hours(datetime(2026, 11, 22, 6, 30, tzinfo=timezone.utc), 2)
    assert [capture.hour_prefix("ep", "AllTraffic", h) for h in hours] == [
        "ep/AllTraffic/2026/11/22/04", "ep/AllTraffic/2026/11/22/05"]


def test_an_open_vocabulary_reaches_the_monitor_as_sent(tmp_path, monkeypatch):
    """merchant_category as an open vocabulary: an unseen value is scored as missing (NaN in X)
    and still counted, and the captured frame keeps the text the client sent for the drift
    test; declared values come back as themselves."""
    from pipeline_src import contract

    data = json.loads(contract.CONTRACT_FILE.read_text())
    merchant = next(f for f in data["features"] if f["name"] == "merchant_category")
    merchant["unseen"] = "missing"
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(contract, "CONTRACT_FILE", path)
    monkeypatch.setattr(contract, "_LOADED", {})
    column = feature_names().index("merchant_category")
    unseen = list(ROW)
    unseen[column] = "casino"
    two = json.dumps({"predictions": [{"probability": 0.1, "label": 0},
                                      {"probability": 0.2, "label": 0}]})
    body = ",".join(map(str, ROW)) + "\n" + ",".join(map(str, unseen))
    lines = [documented_record(body, output=two),
             documented_record(json.dumps([dict(zip(feature_names(), unseen))]),
                               "application/json", "JSON")]
    rows = capture.read_lines(lines)
    assert rows.violations == 0
    assert list(rows.frame()["merchant_category"]) == [ROW[column], "casino", "casino"]
    assert np.isnan(np.concatenate(rows.features)[1:, column]).all()
