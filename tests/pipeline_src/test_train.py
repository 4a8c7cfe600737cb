import json

import numpy as np
import pytest

from pipeline_src import SKLEARN_VERSION, train
from pipeline_src.contract import feature_names
from tests.pipeline_src.conftest import train_model


def test_hyperparameters_parse_as_sagemaker_passes_them(monkeypatch):
    for name in ("TRAIN", "VALIDATION"):
        monkeypatch.setenv(f"SM_CHANNEL_{name}", f"/opt/ml/input/data/{name.lower()}")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    args = train.parse_args(["--min-samples-leaf", "30", "--shadows", "2",
                             "--selection-margin", "3.5", "--max-cuts", "4",
                             "--regularization-c", "0.5", "--threads", "2"])
    assert (args.min_samples_leaf, args.shadows, args.selection_margin, args.max_cuts,
            args.regularization_c, args.threads) == (30, 2, 3.5, 4, 0.5, 2)
    assert args.train == "/opt/ml/input/data/train" and args.model_dir == "/opt/ml/model"
    assert train.estimator_params(args)["scorecard"] == {
        "min_samples_leaf": 30, "n_shadows": 2, "margin": 3.5, "max_cuts": 4, "C": 0.5,
        "random_state": 42}


def test_missing_channel_fails_with_its_reason_in_the_failure_file(monkeypatch, capsys, tmp_path):
    for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_VALIDATION", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    assert train.main([]) == 2
    reason = "--train not given and SM_CHANNEL_TRAIN is not set"
    assert capsys.readouterr().err == f"error: {reason}\n"
    assert (tmp_path / "output" / "failure").read_text() == reason


@pytest.mark.parametrize("argv, reason", [
    (["--shadows", "abc"], "argument --shadows: 'abc' is not an integer in [1, 100]"),
    (["--shadows", "2.5"], "argument --shadows: '2.5' is not an integer in [1, 100]"),
    (["--selection-margin", "0.5"], "argument --selection-margin: '0.5' is outside a number in [1, 1000]"),
    (["--max-cuts", "0"], "argument --max-cuts: '0' is outside an integer in [1, 60]"),
    (["--regularization-c", "0"], "argument --regularization-c: '0' is outside a number in [1e-06, 1e+06]"),
    (["--regularization-c", "nan"], "argument --regularization-c: 'nan' is not a number in [1e-06, 1e+06]"),
    (["--threshold-metric", "recall"], "argument --threshold-metric: 'recall' is not one of f1"),
    (["--max-depth", "3"], "unrecognized arguments: --max-depth 3"),
])
def test_bad_hyperparameter_fails_with_its_reason(argv, reason, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    assert train.main(argv) == 2
    assert (tmp_path / "failure").read_text() == reason
    assert capsys.readouterr().err == f"error: {reason}\n"


def test_unexpected_error_still_says_why(monkeypatch, data_dir, tmp_path):
    def broken(*_):
        raise MemoryError("cannot allocate 3 GiB")

    monkeypatch.setattr(train, "train", broken)
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    rc = train.main(["--train", str(data_dir), "--validation", str(data_dir),
                     "--model-dir", str(tmp_path / "m"), "--output-data-dir", str(tmp_path / "o")])
    assert rc == 1
    assert (tmp_path / "output" / "failure").read_text() == "MemoryError: cannot allocate 3 GiB"


@pytest.mark.parametrize("values, error", [
    ({"shadows": 5, "regularization-c": "0.1", "threads": 2}, None),
    ({"shadows": "1e2"}, "shadows: '1e2' is not an integer in [1, 100]"),
    ({"max-iter": 300}, "max-iter: not a hyperparameter of the training entry point; known: "
                        "model-family, selection-rows,"),
    ({"model-family": "forest"}, "model-family: 'forest' is not one of auto, scorecard, logistic, "
                                 "hist_gradient_boosting"),
    ({"shadows": 2.5}, "shadows: '2.5' is not an integer in [1, 100]"),
    ({"shadows": 3.0}, "shadows: '3.0' is not an integer in [1, 100]"),
    ({"shadows": True}, "shadows: True is a boolean; expected an integer in [1, 100]"),
    ({"regularization-c": "strong"}, "regularization-c: 'strong' is not a number in [1e-06, 1e+06]"),
    ({"threshold-folds": 1}, "threshold-folds: '1' is outside an integer in [2, 20]"),
])
def test_hyperparameters_are_checked_by_the_entry_points_own_definitions(values, error):
    if error is None:
        checked = train.check_hyperparameters(values)
        assert all(isinstance(v, str) for v in checked.values())
        # What the check accepts, the entry point parses.
        args = train.parse_args([a for k, v in checked.items() for a in (f"--{k}", v)]
                                + ["--train", "t", "--validation", "v", "--model-dir", "m",
                                   "--output-data-dir", "o"])
        assert args.shadows == int(float(values.get("shadows", 3)))
    else:
        with pytest.raises(ValueError) as exc:
            train.check_hyperparameters(values)
        assert str(exc.value).startswith(error)


def test_training_reads_channels_from_sm_env_and_saves_model_with_metadata(
        monkeypatch, data_dir, tmp_path, capsys):
    for channel in ("train", "validation"):
        (tmp_path / channel).mkdir()
        (tmp_path / channel / "part.csv").write_bytes((data_dir / f"{channel}.csv").read_bytes())
        monkeypatch.setenv(f"SM_CHANNEL_{channel.upper()}", str(tmp_path / channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "out"))
    assert train.main(["--min-samples-leaf", "30"]) == 0
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["features"] == feature_names()
    assert metadata["sklearn_version"] == SKLEARN_VERSION
    assert metadata["hyperparameters"]["min_samples_leaf"] == 30
    assert 0.0 < metadata["threshold"] < 1.0
    assert metadata["training_metrics"]["validation_pr_auc"] > 0.3
    assert (tmp_path / "model" / "model.joblib").is_file()
    saved = json.loads((tmp_path / "out" / "training_metrics.json").read_text())
    assert saved == metadata["training_metrics"]
    assert "validation_pr_auc=" in capsys.readouterr().out


def test_bad_training_data_stops_before_fitting(data_dir, tmp_path, capsys, splits):
    bad = tmp_path / "renamed.csv"
    splits["train"].rename(columns={"hour": "hour_of_day"}).to_csv(bad, index=False)
    for channel in ("train", "validation"):
        (tmp_path / channel).mkdir()
    (tmp_path / "train" / "train.csv").write_bytes(bad.read_bytes())
    (tmp_path / "validation" / "v.csv").write_bytes((data_dir / "validation.csv").read_bytes())
    rc = train.main(["--train", str(tmp_path / "train"), "--validation", str(tmp_path / "validation"),
                     "--model-dir", str(tmp_path / "model"), "--output-data-dir", str(tmp_path / "o")])
    assert rc == 2
    assert capsys.readouterr().err.strip().startswith(
        "error: train.csv: missing column(s): hour; unexpected column(s): hour_of_day")
    assert not (tmp_path / "model").exists()


def test_training_is_deterministic(data_dir, model_dir, tmp_path):
    """The same data and settings give the same model: a second run of the defaults equals the
    session's model in every candidate's score, the choice and the threshold."""
    again = train_model(data_dir, tmp_path)
    ma, mb = (json.loads((m / "metadata.json").read_text()) for m in (model_dir, again))
    assert ma["model_selection"] == mb["model_selection"]
    assert ma["threshold"] == mb["threshold"]
    timing = {"fit_seconds"}
    assert ({k: v for k, v in ma["training_metrics"].items() if k not in timing}
            == {k: v for k, v in mb["training_metrics"].items() if k not in timing})


def test_metadata_lists_every_candidate_and_the_choice(model_dir):
    from pipeline_src.model import FAMILIES, TIE_RATIO

    metadata = json.loads((model_dir / "metadata.json").read_text())
    selection = metadata["model_selection"]
    assert [c["family"] for c in selection["candidates"]] == list(FAMILIES)
    figures = {c["family"]: c["pr_auc"] for c in selection["candidates"]}
    best = max(figures.values())
    tied = [c["family"] for c in selection["candidates"]
            if c["pr_auc"] >= best - c["standard_error"] or c["pr_auc"] >= TIE_RATIO * best]
    assert [c["family"] for c in selection["candidates"] if c["ties_best"]] == tied
    assert selection["family"] == metadata["model_family"] == tied[0]
    # The validation figures are the chosen family's out-of-fold scores'.
    assert metadata["training_metrics"]["validation_pr_auc"] == figures[selection["family"]]
    assert ("scorecard" in metadata) == (selection["family"] == "scorecard")


def test_a_hyperparameter_pins_the_family(data_dir, tmp_path):
    model = train_model(data_dir, tmp_path, ["--model-family", "logistic"])
    metadata = json.loads((model / "metadata.json").read_text())
    assert metadata["model_family"] == "logistic" and metadata["estimator"] == "Pipeline"
    assert [c["family"] for c in metadata["model_selection"]["candidates"]] == ["logistic"]
    assert metadata["model_selection"]["rule"] == "pinned by --model-family logistic"
