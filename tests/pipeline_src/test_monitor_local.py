"""monitor-local and sample_capture end to end: capture written through the real serving
handlers, read back, compared with the reference by Evidently, judged against the gate."""
import json
import re
import socket

import numpy as np
import pandas as pd
import pytest

from pipeline_src import capture, monitor_local, monitoring, sample_capture
from pipeline_src.contract import feature_names

START = "2026-11-22T05:00"
# Writing 12k rows of capture through the handlers and two Evidently reports take a minute on
# an idle machine; allow for a shared one.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def clean(tmp_path_factory, capture_model_dir):
    out = tmp_path_factory.mktemp("clean-capture")
    assert sample_capture.main(["--out", str(out), "--rows", "12000", "--seed", "7",
                                "--start", START, "--max-batch", "25",
                                "--model", str(capture_model_dir)]) == 0
    return out


@pytest.fixture(scope="session")
def shifted(clean, tmp_path_factory):
    out = tmp_path_factory.mktemp("shifted-capture")
    assert sample_capture.main(["--out", str(out), "--rows", "2000", "--seed", "8",
                                "--start", START, "--shift", "amount=1.5",
                                "--model", str(clean / "model")]) == 0
    return out


def run_local(source, workdir, labels=True, model=True, reference=None):
    argv = ["--capture", str(source / "sample-endpoint"),
            "--reference", str(reference or source / "reference.csv"),
            "--workdir", str(workdir), "--env", "dev"]
    if labels:
        argv += ["--labels", str(source / "labels.csv")]
    if model:
        argv += ["--model", str(source / "model")]
    return monitor_local.main(argv)


def test_sample_capture_writes_data_capture_layout_with_handler_outputs(clean):
    from pipeline_src.inference import model_fn, predict_fn

    files = capture.capture_files(clean)
    pattern = re.compile(r"sample-endpoint/AllTraffic/2026/11/22/05/\d{2}-\d{2}-\d{3}-"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl")
    assert files and all(pattern.fullmatch(p.relative_to(clean).as_posix()) for p in files)
    record = json.loads(files[0].read_text().splitlines()[0])
    assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
    assert set(record["captureData"]["endpointInput"]) == {"observedContentType", "mode", "data",
                                                           "encoding"}
    assert record["eventMetadata"]["inferenceId"].startswith("req-")
    rows = capture.read_directory(clean)
    assert rows.violations == 0
    df = rows.frame()
    assert len(df) == 12000
    content_types = {json.loads(line)["captureData"]["endpointInput"]["observedContentType"]
                     for p in files for line in p.read_text().splitlines()}
    assert content_types == {"text/csv", "application/json"}
    # The captured outputs are what the serving handlers answer for the captured inputs.
    model = model_fn(str(clean / "model"))
    sample = df.head(200)
    again = predict_fn(sample[feature_names()].to_numpy(dtype=float), model)
    assert np.allclose([p["probability"] for p in again], sample[capture.PROBABILITY], atol=1e-9)
    labels = pd.read_csv(clean / "labels.csv")
    assert list(labels.columns) == ["inference_id", "row", "is_fraud"] and len(labels) == 12000


def test_clean_traffic_no_drift_and_quality_holds(clean, tmp_path, capsys, monkeypatch):
    attempts = []
    monkeypatch.setattr(socket.socket, "connect",
                        lambda self, address: attempts.append(address) or (_ for _ in ()).throw(
                            OSError("network use during monitoring")))
    assert run_local(clean, tmp_path) == 0
    assert attempts == []  # Evidently's telemetry is off: nothing tried to reach the network
    summary = json.loads((tmp_path / "monitoring.json").read_text())
    assert summary["drift_detected"] is False and summary["drifted_features"] == []
    assert summary["rows"] == 12000 and summary["contract_violations"] == 0
    assert summary["quality_evaluated"] is True and summary["quality_passed"] is True
    for metric in ("pr_auc", "recall", "precision", "f1"):
        assert 0.0 <= summary[metric] <= 1.0
    assert summary["labels_matched"] == 12000
    html = (tmp_path / "report.html").read_text()
    assert "amount" in html and len(html) > 10_000
    assert (tmp_path / "report-quality.html").is_file()
    out = capsys.readouterr().out
    assert "verdict: no drift" in out and "Wasserstein" in out


def test_shifted_amount_is_detected_and_named(shifted, tmp_path, capsys):
    assert run_local(shifted, tmp_path, labels=False) == 1
    summary = json.loads((tmp_path / "monitoring.json").read_text())
    assert summary["drift_detected"] is True
    assert summary["drifted_features"] == ["amount"]
    assert summary["prediction_drifted"] is True
    assert "pr_auc" not in summary
    assert "verdict: drift" in capsys.readouterr().out


def test_without_model_the_prediction_is_not_compared(shifted, tmp_path):
    """One drifted feature of 20 is below the default drift_share (3 of 20); without the model
    the predicted probability, which caught the shift above, is not compared."""
    assert run_local(shifted, tmp_path, labels=False, model=False) == 0
    summary = json.loads((tmp_path / "monitoring.json").read_text())
    assert summary["prediction_drifted"] is None and "prediction_note" in summary
    assert summary["drifted_features"] == ["amount"] and summary["drift_detected"] is False


def test_quality_below_gate_is_an_alert(clean):
    """Labels that contradict the model (every fraud relabelled legitimate and vice versa)."""
    rows = capture.read_directory(clean)
    current = rows.frame()
    labels = monitoring.read_labels(clean / "labels.csv")
    labels["is_fraud"] = 1 - labels["is_fraud"]
    reference = monitoring.read_reference(clean / "reference.csv")
    summary, _ = monitoring.analyse(reference, current, monitoring.MonitorSettings(),
                                    labels=labels)
    assert summary["quality_evaluated"] and summary["quality_passed"] is False
    assert summary["alert"] is True and "quality below the gate" in summary["verdict"]


def test_row_cap_samples_and_says_so(clean):
    current = capture.read_directory(clean).frame()
    reference = monitoring.read_reference(clean / "reference.csv")
    summary, frames = monitoring.analyse(reference, current,
                                         monitoring.MonitorSettings(row_cap=5000))
    assert summary["rows"] == 12000 and summary["rows_analysed"] == 5000
    assert summary["sampled"] is True and "row cap 5000" in summary["sampling_note"]
    assert len(frames["current"]) == 5000


def test_drift_scores_are_evidentlys_own(shifted):
    """The per-column scores equal the ValueDrift values of Evidently's DataDriftPreset."""
    monitoring.disable_telemetry()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    current = capture.read_directory(shifted).frame()
    reference = monitoring.read_reference(shifted / "reference.csv")
    table = monitoring.drift_table(reference, current)
    kinds = monitoring.column_kinds()
    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "num"],
        categorical_columns=[c for c, k in kinds.items() if k == "cat"])
    columns = list(kinds)
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition))
    values = {m["config"]["column"]: m["value"] for m in snapshot.dict()["metrics"]
              if m["config"].get("type", "").endswith("ValueDrift")}
    assert set(values) == set(columns)
    for row in table:
        assert row["score"] == pytest.approx(values[row["column"]], rel=1e-9)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: {"capture": d / "missing"}, "no such folder"),
    (lambda d: {"capture": d / "model"}, "no data capture file"),
    (lambda d: {"labels": d / "reference.csv"}, "columns must be inference_id"),
    (lambda d: {"reference": d / "labels.csv"}, "missing column(s)"),
    (lambda d: {"model": d / "nothing"}, "no such folder"),
])
def test_bad_input_is_one_line_and_exit_2(clean, tmp_path, capsys, mutate, message):
    paths = {"capture": clean / "sample-endpoint", "reference": clean / "reference.csv",
             "labels": clean / "labels.csv", "model": clean / "model"}
    paths.update(mutate(clean))
    argv = ["--workdir", str(tmp_path / "work")]
    for key, value in paths.items():
        argv += [f"--{key}", str(value)]
    assert monitor_local.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "work" / "monitoring.json").exists()


def test_bad_labels_values_are_named(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("inference_id,row,is_fraud\na,1,0\nb,1,2\n")
    with pytest.raises(Exception, match=r"column is_fraud: 1 value\(s\) not 0 or 1"):
        monitoring.read_labels(path)
    path.write_text("inference_id,is_fraud\na,0\na,1\n")
    with pytest.raises(Exception, match="labelled more than once"):
        monitoring.read_labels(path)


@pytest.mark.parametrize("argv, message", [
    (["--shift", "amount"], "expected FEATURE=FACTOR"),
    (["--shift", "nope=2"], "expected FEATURE=FACTOR"),
    (["--shift", "amount=-1"], "positive finite"),
    (["--rows", "0"], "--rows 0"),
    (["--endpoint", "bad name"], "not a SageMaker endpoint name"),
    # 64 characters: over SageMaker's 63 (hyphens count).
    (["--endpoint", "a-" * 31 + "bc"], "not a SageMaker endpoint name"),
    (["--start", "yesterday"], "not an ISO date/time"),
])
def test_sample_capture_bad_input(tmp_path, capsys, argv, message):
    assert sample_capture.main(["--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
