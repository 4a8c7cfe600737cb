import copy
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_src import contract
from pipeline_src.contract import ContractError, LABEL, read_csv, validate_frame


def write(tmp_path, df, name="data.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_valid_split_passes_and_keeps_contract_order(splits):
    df = validate_frame(splits["train"][list(reversed(splits["train"].columns))])
    assert list(df.columns) == contract.feature_names() + [LABEL]
    assert str(df["hour"].dtype) == "int64"


def test_contract_imports_with_the_standard_library_only():
    code = ("import sys, pipeline_src.contract as c; c.example_rows(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_example_rows_are_deterministic_and_valid():
    import pandas as pd

    rows = contract.example_rows(4)
    assert rows == contract.example_rows(4)
    assert len(rows) == 4 and all(len(r) == len(contract.FEATURES) for r in rows)
    validate_frame(pd.DataFrame(rows, columns=contract.feature_names()), require_label=False)


def one_line(exc):
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_renamed_column(tmp_path, splits):
    path = write(tmp_path, splits["test"].rename(columns={"amount": "amt"}))
    with pytest.raises(ContractError) as exc:
        read_csv(path)
    assert one_line(exc).startswith("data.csv: missing column(s): amount; unexpected column(s): "
                                    "amt (renamed upstream?); expected columns: amount, hour,")


def test_missing_column(tmp_path, splits):
    path = write(tmp_path, splits["test"].drop(columns=["hour", "feature_3"]))
    with pytest.raises(ContractError) as exc:
        read_csv(path)
    assert one_line(exc).startswith("data.csv: missing column(s): hour, feature_3; expected")


def test_extra_column(splits):
    df = splits["test"].assign(customer_id=1)
    with pytest.raises(ContractError) as exc:
        validate_frame(df, source="x.csv")
    assert one_line(exc).startswith("x.csv: unexpected column(s): customer_id; expected columns")


def test_mistyped_column(tmp_path, splits):
    df = splits["test"].astype({"amount": object})
    df.loc[3, "amount"] = "12,50 EUR"
    with pytest.raises(ContractError) as exc:
        read_csv(write(tmp_path, df))
    assert one_line(exc) == ("data.csv: column amount: 1 non-numeric value(s) (first: '12,50 EUR'); "
                             "expected float in [0, 1000000]")


def test_non_integer_in_integer_column(splits):
    df = splits["test"].astype({"hour": float})
    df.loc[0, "hour"] = 13.5
    with pytest.raises(ContractError) as exc:
        validate_frame(df)
    assert one_line(exc) == ("column hour: 1 non-integer value(s) (first: 13.5); "
                             "expected int in [0, 23]")


def test_value_out_of_range(splits):
    df = splits["test"].copy()
    df.loc[[1, 2], "day_of_week"] = 7
    with pytest.raises(ContractError) as exc:
        validate_frame(df)
    assert one_line(exc) == ("column day_of_week: 2 value(s) outside the allowed range (first: 7); "
                             "expected int in [0, 6]")


def test_null_value(splits):
    df = splits["test"].copy()
    df.loc[5, "credit_limit"] = None
    with pytest.raises(ContractError) as exc:
        validate_frame(df)
    assert one_line(exc) == ("column credit_limit: 1 missing value(s); expected float in "
                             "[-1000000, 10000000], no nulls")


def test_empty_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("")
    with pytest.raises(ContractError) as exc:
        read_csv(path)
    assert one_line(exc) == "train.csv: empty file (expected a header and data rows)"


def test_header_only_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(",".join(contract.feature_names() + [LABEL]) + "\n")
    with pytest.raises(ContractError) as exc:
        read_csv(path)
    assert one_line(exc) == "train.csv: no data rows (expected at least one row under the header)"


def test_single_class_label(splits):
    df = splits["test"][splits["test"][LABEL] == 0]
    with pytest.raises(ContractError) as exc:
        validate_frame(df, source="test.csv")
    assert one_line(exc) == "test.csv: column is_fraud: only class 0 present; expected both classes 0 and 1"


def test_label_not_binary(splits):
    df = splits["test"].copy()
    df.loc[0, LABEL] = 2
    with pytest.raises(ContractError) as exc:
        validate_frame(df)
    assert one_line(exc) == ("column is_fraud: 1 value(s) not 0 or 1 (first: 2); "
                             "expected int in {0, 1}, no nulls")


def test_features_without_label_for_inference(splits):
    df = validate_frame(splits["test"].drop(columns=[LABEL]), require_label=False)
    assert list(df.columns) == contract.feature_names()


# --- the contract file (pipeline_src/contract.json) and its encoding ---------------------------

CONTRACT_JSON = json.loads(contract.CONTRACT_FILE.read_text())


@pytest.fixture
def use_contract(tmp_path, monkeypatch):
    """Point pipeline_src.contract at an edited copy of contract.json (functions of this module
    only: other modules keep what they imported). Returns edit(change) -> path."""

    def edit(change):
        data = copy.deepcopy(CONTRACT_JSON)
        change(data)
        path = tmp_path / "contract.json"
        path.write_text(json.dumps(data))
        monkeypatch.setattr(contract, "CONTRACT_FILE", path)
        monkeypatch.setattr(contract, "_LOADED", {})
        for name in ("FEATURES", "LABEL"):
            monkeypatch.delattr(contract, name, raising=False)
        return path

    return edit


def feature(data, name):
    return next(f for f in data["features"] if f["name"] == name)


def test_the_demo_contract_declares_merchant_category_categorical():
    assert contract.categorical_mask() == [f["kind"] == "categorical"
                                           for f in CONTRACT_JSON["features"]]
    assert contract.categorical_mask().count(True) == 1
    merchant = contract.FEATURES[contract.feature_names().index("merchant_category")]
    assert merchant.values == tuple(str(i) for i in range(20)) and merchant.unseen == "reject"


def test_encode_gives_codes_by_declared_position_and_nan_for_missing(use_contract):
    import numpy as np
    import pandas as pd

    def change(data):
        merchant = feature(data, "merchant_category")
        merchant.update(values=["grocery", "fuel", "travel"], example="fuel", nullable=True)
    use_contract(change)
    rows = contract.example_rows(3)
    assert [r[3] for r in rows] == ["fuel", "travel", "grocery"]
    frame = pd.DataFrame(rows, columns=contract.feature_names())
    frame.loc[1, "merchant_category"] = None
    X = contract.encode(frame)
    assert X.dtype == np.float64 and X.shape == (3, 20)
    assert X[0, 3] == 1.0 and np.isnan(X[1, 3]) and X[2, 3] == 0.0
    assert np.array_equal(X[:, 0], frame["amount"].to_numpy(dtype=float))
    frame.loc[2, "merchant_category"] = "casino"
    with pytest.raises(ContractError) as exc:
        contract.encode(frame)
    assert one_line(exc) == ("row 3, column merchant_category: 'casino' is an undeclared value; "
                             "expected one of 3 declared values ('grocery', 'fuel', 'travel')")


def test_open_vocabulary_reads_unseen_values_as_missing(use_contract):
    import numpy as np
    import pandas as pd

    use_contract(lambda data: feature(data, "merchant_category").update(unseen="missing"))
    frame = pd.DataFrame(contract.example_rows(2), columns=contract.feature_names())
    frame.loc[0, "merchant_category"] = "casino"
    checked = validate_frame(frame, require_label=False)
    assert checked.loc[0, "merchant_category"] == "casino"  # the data as it is, for the monitor
    X = contract.encode(checked)
    assert np.isnan(X[0, 3]) and X[1, 3] == 8.0
    assert list(contract.row_violations(X)) == [False, False]


def test_numbers_in_a_categorical_column_match_their_integer_text(splits):
    import numpy as np

    # A CSV cell is text ("7"); a frame built in code may hold the integer 7 or the float 7.0:
    # all three are the declared value "7".
    text = splits["test"].drop(columns=[LABEL]).head(50)
    numbers = text.astype({"merchant_category": "int64"})
    floats = text.astype({"merchant_category": "float64"})
    assert np.array_equal(contract.encode(numbers), contract.encode(text))
    assert np.array_equal(contract.encode(floats), contract.encode(text))
    assert np.array_equal(contract.encode(text)[:, 3], numbers["merchant_category"].to_numpy())
    assert validate_frame(numbers, require_label=False).equals(
        validate_frame(text, require_label=False))


@pytest.mark.parametrize("value, message", [
    ("20", "1 undeclared value(s) (first: '20')"),
    ("07", "1 undeclared value(s) (first: '07')"),
    ("", "1 missing value(s); expected one of 20 declared values"),
])
def test_training_refuses_an_undeclared_or_missing_category(tmp_path, splits, value, message):
    df = splits["test"].astype({"merchant_category": object})
    df.loc[4, "merchant_category"] = value
    with pytest.raises(ContractError) as exc:
        read_csv(write(tmp_path, df))
    assert one_line(exc).startswith(f"data.csv: column merchant_category: {message}")


def test_a_label_spelled_as_text(use_contract, splits):
    def change(data):
        data["label"] = {"name": "outcome", "positive": "fraud", "negative": "legit"}
    use_contract(change)
    df = splits["test"].rename(columns={LABEL: "outcome"})
    df["outcome"] = df["outcome"].map({1: "fraud", 0: "legit"})
    checked = validate_frame(df)
    assert checked["outcome"].tolist() == splits["test"][LABEL].tolist()
    df.loc[0, "outcome"] = "1"
    with pytest.raises(ContractError) as exc:
        validate_frame(df)
    assert one_line(exc) == ("column outcome: 1 value(s) not legit or fraud (first: '1'); "
                             "expected 'legit' or 'fraud', no nulls")


@pytest.mark.parametrize("change, message", [
    (lambda d: feature(d, "hour").update(min=30), "features.1: min 30 is greater than max 23"),
    (lambda d: feature(d, "hour").update(example=1.5),
     "features.1: example 1.5 is not a whole number (dtype int)"),
    (lambda d: feature(d, "amount").update(kind="text"), "features.0: Input tag 'text'"),
    (lambda d: feature(d, "amount").update(unit="EUR"), "features.0.unit: Extra inputs"),
    (lambda d: feature(d, "merchant_category").update(values=[str(i) for i in range(256)]),
     "features.3.values: List should have at most 255 items"),
    (lambda d: feature(d, "merchant_category").update(values=["a", "b", "a"], example="a"),
     "features.3: values repeated: 'a'"),
    (lambda d: feature(d, "merchant_category").update(values=[" a"], example=" a"),
     "features.3.values.0: String should match pattern"),
    (lambda d: feature(d, "merchant_category").update(example="99"),
     "features.3: example '99' is not one of the values"),
    (lambda d: feature(d, "merchant_category").update(values=[1, 2], example=1),
     "features.3.values.0: Input should be a valid string"),
    (lambda d: feature(d, "hour").update(name="amount"), "features: feature names repeated"),
    (lambda d: feature(d, "hour").update(name="hour of day"), "features.1.name: String should"),
    (lambda d: d["label"].update(name="amount"), "label 'amount' is also a feature"),
    (lambda d: d["label"].update(positive=0), "label: positive and negative are both 0"),
    (lambda d: d.update(features=[]), "features: List should have at least 1 item"),
])
def test_a_bad_contract_file_is_one_line_naming_the_place(use_contract, change, message):
    use_contract(change)
    with pytest.raises(ContractError) as exc:
        contract.feature_names()
    assert one_line(exc).startswith("contract.json: ") and message in one_line(exc)


def test_a_contract_file_that_is_not_json(tmp_path, monkeypatch):
    path = tmp_path / "contract.json"
    path.write_text('{"label": ')
    with pytest.raises(ContractError) as exc:
        contract.load(path)
    assert one_line(exc).startswith("contract.json: not valid JSON: Expecting value at line 1")


def test_the_serving_container_reads_the_file_without_pydantic():
    """The scikit-learn container has no pydantic (envs/container-py312): the contract loads
    from the standard library alone, to the same features."""
    code = ("import sys, json; sys.modules['pydantic'] = None\n"
            "import pipeline_src.contract as c\n"
            "print(json.dumps([c.feature_names(), c.categorical_mask(), c.encoding(), "
            "c.example_rows(3), c.LABEL]))\n"
            "print('pydantic' in sys.modules and sys.modules['pydantic'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, pydantic_used = out.stdout.strip().splitlines()
    assert json.loads(loaded) == [contract.feature_names(), contract.categorical_mask(),
                                  contract.encoding(), contract.example_rows(3), LABEL]
    assert pydantic_used == "False"


def test_the_contract_ships_in_the_source_zip_and_the_model_bundle(tmp_path):
    import zipfile

    from infra.packaging import build_zip
    from pipeline_src.model_io import bundle_members

    archive = build_zip(contract.CONTRACT_FILE.parent, tmp_path / "src.zip", "pipeline_src")
    with zipfile.ZipFile(archive.path) as zf:
        assert zf.read("pipeline_src/contract.json") == contract.CONTRACT_FILE.read_bytes()
    assert dict(bundle_members())["pipeline_src/contract.json"] == \
        contract.CONTRACT_FILE.read_bytes()


def test_the_editor_schema_and_the_readme_tables_follow_the_models():
    """contract.schema.json accepts the contract and refuses what the models refuse; the README
    tables list every setting and every column (python -m infra.config_schema --check: stale
    files fail tests/infra/test_config.py)."""
    import jsonschema

    from infra import config_schema

    schema = json.loads((contract.CONTRACT_FILE.parent / "contract.schema.json").read_text())
    assert schema == config_schema.contract_json_schema()
    jsonschema.validate(CONTRACT_JSON, schema)
    bad = copy.deepcopy(CONTRACT_JSON)
    feature(bad, "merchant_category")["values"] = [str(i) for i in range(256)]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    table = config_schema.contract_readme_table()
    assert "| `features[] (categorical).unseen` | `reject` / `missing` | `\"reject\"` |" in table
    columns = config_schema.contract_columns_table()
    assert ("| 4 | `merchant_category` | categorical | one of 20 declared values ('0', '1', '2', "
            "'3', ..., '19') | no |") in columns
    readme = (config_schema.README).read_text()
    assert table in readme and columns in readme


def test_gzip_compressed_csv_reads_as_the_plain_file(tmp_path, splits):
    # What SageMaker channels and pandas take: *.csv.gz, gzip-compressed CSV.
    plain, packed = tmp_path / "train.csv", tmp_path / "train.csv.gz"
    splits["train"].to_csv(plain, index=False)
    splits["train"].to_csv(packed, index=False, compression={"method": "gzip", "mtime": 0})
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert read_csv(packed).equals(read_csv(plain))


def test_channel_with_csv_gz_files_reads_them_all(tmp_path, splits):
    channel = tmp_path / "train"
    channel.mkdir()
    half = len(splits["train"]) // 2
    splits["train"].iloc[:half].to_csv(channel / "part-0.csv.gz", index=False)
    splits["train"].iloc[half:].to_csv(channel / "part-1.csv", index=False)
    (channel / "notes.txt").write_text("not data")
    whole = tmp_path / "whole.csv"
    splits["train"].to_csv(whole, index=False)
    assert contract.read_channel(channel).equals(read_csv(whole))


def test_channel_without_csv_names_both_suffixes(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(ContractError, match="no .csv or .csv.gz file found"):
        contract.read_channel(tmp_path / "train")


@settings(deadline=None, derandomize=True, database=None, max_examples=400)
@given(cells=st.lists(st.text(alphabet="0123456789+-.eE \t", max_size=8)
                      | st.sampled_from(["nan", "inf", "1_000", "١", "1\n", "\u20071", "0x1"]),
                      min_size=1, max_size=4))
def test_the_fast_number_check_accepts_exactly_number_syntax(cells):
    """contract._number_text (the training files' fast path) accepts a column exactly when the
    regular expression serving uses accepts every cell, and reads the same floats."""
    import numpy as np
    import pandas as pd

    fast = contract._number_text(pd.Series(cells, dtype=object), np, pd)
    every = all(contract.NUMBER_SYNTAX.fullmatch(c) for c in cells)
    assert (fast is not None) == every
    if every:
        assert fast.tolist() == [float(c) for c in cells]


def test_a_file_is_read_in_chunks_to_the_same_frame(tmp_path, splits, monkeypatch):
    """Large training files are checked CHUNK_ROWS rows at a time (bounded memory): the result is
    the one-pass frame; the label's two classes are judged over the whole file (the frauds may all
    sit in one chunk); an error past the first chunk names its rows."""
    df = splits["test"].sort_values(LABEL, ignore_index=True)  # every fraud in the last chunk
    path = write(tmp_path, df)
    whole = read_csv(path)
    monkeypatch.setattr(contract, "CHUNK_ROWS", 1000)
    chunked = read_csv(path)
    assert chunked.equals(whole) and len(chunked) == len(df) > 3000
    bad = df.astype({"hour": object})
    bad.loc[2500, "hour"] = "noon"
    with pytest.raises(ContractError) as exc:
        read_csv(write(tmp_path, bad, "bad.csv"))
    assert one_line(exc) == ("bad.csv: rows 2001-3000: column hour: 1 non-numeric value(s) "
                             "(first: 'noon'); expected int in [0, 23]")
