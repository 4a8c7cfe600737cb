import json

import numpy as np
import pytest

from pipeline_src import inference
from pipeline_src.contract import LABEL, example_rows, feature_names
from pipeline_src.inference import PayloadError


@pytest.fixture(scope="module")
def model(model_dir):
    return inference.model_fn(str(model_dir))


def serve(model, body, content_type="text/csv", accept="application/json"):
    data = inference.input_fn(body, content_type)
    return inference.output_fn(inference.predict_fn(data, model), accept)


def test_csv_and_json_give_one_prediction_per_row_in_order(model):
    rows = example_rows(3)
    csv_body = "\n".join(",".join(map(str, r)) for r in rows).encode()
    text, media = serve(model, csv_body, "text/csv; charset=utf-8")
    assert media == "application/json"
    predictions = json.loads(text)["predictions"]
    assert len(predictions) == 3
    assert all(set(p) == {"probability", "label"} and 0 <= p["probability"] <= 1 for p in predictions)
    as_instances, _ = serve(model, json.dumps({"instances": rows}), "application/json")
    as_objects, _ = serve(model, json.dumps([dict(zip(feature_names(), r)) for r in rows]),
                          "application/json")
    assert json.loads(as_instances) == json.loads(as_objects) == json.loads(text)


def test_label_follows_the_models_threshold(model, splits):
    X = splits["test"][feature_names()].to_numpy(dtype=float)[:200]
    out = inference.predict_fn(X, model)
    assert [p["label"] for p in out] == [int(p["probability"] >= model["threshold"]) for p in out]


def test_fast_path_matches_scikit_learn(model, splits):
    X = splits["test"][feature_names()].to_numpy(dtype=float)
    positives = X[splits["test"][LABEL].to_numpy() == 1]
    X = np.vstack([positives, X[:200]])
    X[3, 0] = np.nan  # missing values follow the trees' learned direction
    expected = model["estimator"].predict_proba(X)[:, 1]
    np.testing.assert_allclose(inference.predict_proba_fast(model["fast"], X), expected,
                               rtol=1e-12, atol=1e-15)
    single = inference.predict_fn(X[:1], model)[0]["probability"]
    assert single == pytest.approx(expected[0], rel=1e-12)


@pytest.mark.parametrize("body, content_type, status, message", [
    ("1,2,3", "text/csv", 400,
     "row 1 has 3 values; expected 20 (amount, hour, day_of_week,"),
    (",".join(["1"] * 19) + ",abc", "text/csv", 400,
     "row 1, column feature_9: 'abc' is not a number (text/csv takes no header)"),
    ("", "text/csv", 400, "empty request body"),
    ("  \n", "application/json", 400, "empty request body"),
    ("amount,hour", "application/x-parquet", 415,
     "unsupported content type 'application/x-parquet'; use text/csv or application/json"),
    ("{not json", "application/json", 400, "request body is not valid JSON: Expecting property"),
    ('{"rows": []}', "application/json", 400, 'JSON body must be {"instances": [[...], ...]}'),
    ('{"instances": []}', "application/json", 400, "no rows in the request"),
    ('{"instances": [[1, 2]]}', "application/json", 400, "row 1 has 2 values; expected 20"),
    ('{"instances": [["1", 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]}',
     "application/json", 400, "row 1, column amount: '1' is not a finite number"),
    ('[{"amount": 1}]', "application/json", 400, "row 1: missing hour, day_of_week,"),
    ('[5]', "application/json", 400, "row 1 is int; expected a list of numbers or an object"),
])
def test_malformed_payloads_are_client_errors(body, content_type, status, message):
    with pytest.raises(PayloadError) as exc:
        inference.input_fn(body, content_type)
    assert exc.value.status_code == status
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith(message)


def test_oversized_payload_is_rejected_before_parsing():
    body = b"1," * (inference.MAX_PAYLOAD_BYTES // 2 + 1)
    with pytest.raises(PayloadError) as exc:
        inference.input_fn(body, "text/csv")
    assert exc.value.status_code == 413
    assert str(exc.value) == (f"request body is {len(body)} bytes; the limit is "
                              f"{inference.MAX_PAYLOAD_BYTES} bytes")


def test_too_many_rows_is_rejected():
    row = ",".join(["1"] * 20)
    with pytest.raises(PayloadError) as exc:
        inference.input_fn("\n".join([row] * (inference.MAX_ROWS + 1)), "text/csv")
    assert str(exc.value) == f"{inference.MAX_ROWS + 1} rows in one request; the limit is {inference.MAX_ROWS}"


def test_unsupported_accept_type(model):
    with pytest.raises(PayloadError) as exc:
        serve(model, ",".join(map(str, example_rows(1)[0])), accept="text/csv")
    assert exc.value.status_code == 406
    assert str(exc.value) == "unsupported accept type 'text/csv'; this model answers application/json"
