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


def test_single_row_requests_score_as_the_batch_does(model, splits):
    X = splits["test"][feature_names()].to_numpy(dtype=float)[:50]
    batch = [p["probability"] for p in inference.predict_fn(X, model)]
    single = [inference.predict_fn(X[i:i + 1], model)[0]["probability"] for i in range(len(X))]
    assert single == pytest.approx(batch, rel=1e-12)


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
     "application/json", 400, 'row 1, column amount: "1" is not a number'),
    ('[{"amount": 1}]', "application/json", 400, "row 1: missing hour, day_of_week,"),
    ('[5]', "application/json", 400, "row 1 is a number; expected a list of numbers or an object"),
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


def csv_row(**changes) -> str:
    row = dict(zip(feature_names(), map(str, example_rows(1)[0])))
    row.update(changes)
    return ",".join(row.values())


def json_row(**changes) -> str:
    row = dict(zip(feature_names(), example_rows(1)[0]))
    row.update(changes)
    return json.dumps({"instances": [list(row.values())]})


DEEP = "[" * 100_000 + "]" * 100_000

# Every malformed kind, its status and the start of its one-line error, through handle(): what
# transform_fn answers in the container (tests/container checks the same list over HTTP).
MALFORMED = [
    ("csv-out-of-range", csv_row(hour="24"), "text/csv", 400,
     "row 1, column hour: 24 is a value outside the allowed range; expected int in [0, 23]"),
    ("csv-fractional-int", csv_row(day_of_week="7.5"), "text/csv", 400,
     "row 1, column day_of_week: 7.5 is a non-integer value; expected int in [0, 6]"),
    ("csv-negative-amount", csv_row(amount="-1"), "text/csv", 400,
     "row 1, column amount: -1 is a value outside the allowed range"),
    ("csv-nan", csv_row(amount="nan"), "text/csv", 400, "row 1, column amount: 'nan' is not a number"),
    ("csv-inf", csv_row(amount="inf"), "text/csv", 400, "row 1, column amount: 'inf' is not a number"),
    ("csv-underscore", csv_row(amount="1_000"), "text/csv", 400,
     "row 1, column amount: '1_000' is not a number"),
    ("csv-boolean", csv_row(online_transaction="True"), "text/csv", 400,
     "row 1, column online_transaction: 'True' is not a number"),
    ("csv-huge", csv_row(amount="9" * 400), "text/csv", 400,
     "row 1, column amount: inf is a non-finite value"),
    ("csv-short-row", "1,2,3", "text/csv", 400, "row 1 has 3 values; expected 20"),
    ("csv-header", ",".join(feature_names()), "text/csv", 400,
     "row 1, column amount: 'amount' is not a number (text/csv takes no header)"),
    ("json-out-of-range", json_row(hour=24), "application/json", 400,
     "row 1, column hour: 24 is a value outside the allowed range"),
    ("json-huge-int", json_row(amount=int("9" * 400)), "application/json", 400,
     "row 1, column amount: inf is a non-finite value"),
    ("json-nan", json_row(amount=float("nan")), "application/json", 400,
     "NaN is not a number in JSON"),
    ("json-infinity", json_row(amount=float("inf")), "application/json", 400,
     "Infinity is not a number in JSON"),
    ("json-boolean", json_row(online_transaction=True), "application/json", 400,
     "row 1, column online_transaction: true is not a number"),
    ("json-null", json_row(hour=None), "application/json", 400,
     "row 1, column hour: missing is a missing value; expected int in [0, 23], no nulls"),
    ("csv-empty-cell", csv_row(hour=""), "text/csv", 400,
     "row 1, column hour: missing is a missing value; expected int in [0, 23], no nulls"),
    ("csv-unclosed-quote", csv_row(merchant_category='"7'), "text/csv", 400,
     "request body is not readable CSV"),
    ("json-nested-value", json_row(hour=[1]), "application/json", 400,
     "row 1, column hour: [1.0] is not a number"),
    ("json-deep-nesting", DEEP, "application/json", 400, "request body is nested too deeply"),
    ("json-scalar", "5", "application/json", 400, "JSON instances must be a list of rows"),
    ("json-not-json", "{not json", "application/json", 400, "request body is not valid JSON"),
    ("json-wrong-shape", '{"instances": [[1, 2]]}', "application/json", 400,
     "row 1 has 2 values; expected 20"),
    ("json-missing-key", '[{"amount": 1}]', "application/json", 400, "row 1: missing hour,"),
    ("empty", "", "text/csv", 400, "empty request body"),
    ("not-utf8", b"\xff\xfe1,2", "text/csv", 400, "request body is not UTF-8 text"),
    ("content-type", csv_row(), "application/x-parquet", 415,
     "unsupported content type 'application/x-parquet'"),
    ("too-many-rows", "\n".join([csv_row()] * (inference.MAX_ROWS + 1)), "text/csv", 413,
     f"{inference.MAX_ROWS + 1} rows in one request; the limit is {inference.MAX_ROWS}"),
    ("oversize", b"1," * (inference.MAX_PAYLOAD_BYTES // 2 + 1), "text/csv", 413,
     f"request body is {inference.MAX_PAYLOAD_BYTES + 2} bytes; the limit is"),
]


# merchant_category is categorical with a closed vocabulary ("0".."19", contract.json): an
# undeclared value is the client's error, whatever its spelling. (format, kind, value, message)
CATEGORY_CASES = [
    ("csv", "undeclared", "20", "'20' is an undeclared value; expected one of 20 declared "
                                "values ('0', '1', '2', '3', ..., '19')"),
    ("csv", "text", "grocery", "'grocery' is an undeclared value"),
    ("csv", "fraction", "7.5", "'7.5' is an undeclared value"),
    ("csv", "leading-zero", "07", "'07' is an undeclared value"),
    ("csv", "empty", " ", "missing is a missing value; expected one of 20"),
    ("csv", "quoted-comma", '"7,8"', "'7,8' is an undeclared value"),
    ("json", "undeclared", "20", "'20' is an undeclared value"),
    ("json", "number-undeclared", 25, "'25' is an undeclared value"),
    ("json", "boolean", True, "true is not a string or a number"),
    ("json", "object", {"code": 7}, '{"code": 7.0} is not a string or a number'),
    ("json", "null", None, "missing is a missing value"),
    ("json", "huge-text", "x" * 100_000, "'xxxxxxxx"),
]
MALFORMED += [(f"{form}-category-{kind}", (csv_row if form == "csv" else json_row)(
    merchant_category=value), "text/csv" if form == "csv" else "application/json", 400,
    f"row 1, column merchant_category: {message}") for form, kind, value, message in CATEGORY_CASES]

@pytest.mark.parametrize("kind, body, content_type, status, message", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_every_malformed_request_answers_its_4xx_with_a_one_line_json_error(
        model, kind, body, content_type, status, message):
    code, text, media = inference.handle(model, body, content_type, "application/json")
    assert (code, media) == (status, "application/json")
    error = json.loads(text)
    assert list(error) == ["error"] and "\n" not in error["error"]
    assert error["error"].startswith(message)


def test_unsupported_accept_is_406_before_any_work(model):
    code, text, _ = inference.handle(model, csv_row(), "text/csv", "text/csv")
    assert code == 406
    assert json.loads(text) == {"error": "unsupported accept type 'text/csv'; this model "
                                         "answers application/json"}


def test_good_response_is_what_the_three_handlers_answer(model):
    body = "\n".join(",".join(map(str, r)) for r in example_rows(5))
    expected = inference.output_fn(inference.predict_fn(inference.input_fn(body, "text/csv"),
                                                        model), "*/*")
    assert inference.handle(model, body, "text/csv", "*/*") == (200, *expected)


@pytest.mark.parametrize("column, value", [("hour", 24), ("day_of_week", 7.5), ("amount", -0.01),
                                           ("online_transaction", 2), ("feature_3", 1001)])
def test_serving_refuses_exactly_what_training_refuses(column, value):
    """One contract: a row the training data check refuses is refused by serving, and the
    same row with a valid value is accepted by both."""
    import pandas as pd

    from pipeline_src.contract import ContractError, validate_frame

    for bad in (True, False):
        row = dict(zip(feature_names(), example_rows(1)[0]))
        if bad:
            row[column] = value
        frame = pd.DataFrame([{k: str(v) for k, v in row.items()}])
        try:
            validate_frame(frame, require_label=False)
            training_ok = True
        except ContractError:
            training_ok = False
        try:
            inference.input_fn(",".join(str(v) for v in row.values()), "text/csv")
            serving_ok = True
        except PayloadError:
            serving_ok = False
        assert training_ok == serving_ok == (not bad)


@pytest.mark.parametrize("spelling", ["1e2", "+3", " 4 ", "5.", ".5", "1E-2", "inf", "NaN",
                                      "1_0", "0x1", "True", "", "1,5", "١"])
def test_training_and_serving_accept_the_same_number_spellings(spelling):
    import pandas as pd

    from pipeline_src.contract import ContractError, validate_frame

    row = [str(v) for v in example_rows(1)[0]]
    row[0] = spelling
    try:
        validate_frame(pd.DataFrame([dict(zip(feature_names(), row))]), require_label=False)
        training_ok = True
    except ContractError:
        training_ok = False
    try:
        inference.input_fn(",".join(row), "text/csv")
        serving_ok = True
    except PayloadError:
        serving_ok = False
    assert training_ok == serving_ok


@pytest.fixture(scope="module")
def family_models():
    """One fitted model of every family on data with a categorical column (codes 0..6, some
    missing), a nullable numeric column and a code the training rows never had."""
    from pipeline_src.model import FAMILIES, make_estimator

    rng = np.random.RandomState(0)
    n = 4_000
    X = np.column_stack([rng.normal(size=n), rng.randint(0, 7, n), rng.exponential(5, n),
                         rng.randint(0, 30, n)]).astype(float)
    y = (((X[:, 1] % 3 == 0) & (rng.uniform(size=n) < 0.4))
         | (rng.uniform(size=n) < 0.03 * (X[:, 0] > 1))).astype(int)
    categorical = [False, True, False, True]
    params = {"scorecard": {}, "logistic": {}, "hist_gradient_boosting": {"max_iter": 60},
              "random_forest": {"n_estimators": 30}}
    with_missing = X.copy()
    with_missing[rng.uniform(size=n) < 0.05, 0] = np.nan
    with_missing[rng.uniform(size=n) < 0.05, 1] = np.nan
    models = {family: make_estimator(family, categorical, params, y).fit(
        X if family == "scorecard" else with_missing, y) for family in FAMILIES if family != "blend"}
    models["blend"] = make_estimator("blend", categorical, params, y, (
        "hist_gradient_boosting", "random_forest")).fit(with_missing, y)
    # A member without a compiled form: served by its own predict_proba inside the fast form.
    models["blend_with_scorecard"] = make_estimator("blend", categorical, params, y, (
        "scorecard", "logistic")).fit(X, y)
    requests = with_missing[:300].copy()
    requests[:20, 1] = 9       # a category the training rows never had
    requests[20:30, 3] = 40
    requests[30:40, 2] = np.nan  # missing where training had none
    return models, requests


@pytest.mark.parametrize("family", ["scorecard", "logistic", "hist_gradient_boosting_ordinal",
                                    "hist_gradient_boosting", "random_forest", "blend",
                                    "blend_with_scorecard"])
def test_small_requests_score_exactly_as_scikit_learn_for_every_family(family, family_models):
    models, requests = family_models
    estimator = models[family]
    if family in ("scorecard", "blend_with_scorecard"):
        requests = np.nan_to_num(requests, nan=-1.0)
    expected = estimator.predict_proba(requests)[:, 1]
    fast = inference.compile_fast(estimator)
    assert (fast is None) == (family == "scorecard")  # its predict_proba is already numpy
    model = {"estimator": estimator, "threshold": 0.5, "fast": fast}
    if fast is not None:
        np.testing.assert_array_equal(inference.predict_proba_fast(fast, requests), expected)
    batch = [p["probability"] for p in inference.predict_fn(requests[:200], model)]
    assert batch == expected[:200].tolist()
    single = [inference.predict_fn(requests[i:i + 1], model)[0]["probability"]
              for i in range(40)]
    assert single == pytest.approx(expected[:40].tolist(), rel=1e-12)
