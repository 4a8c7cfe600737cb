import subprocess
import sys

import pytest

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
