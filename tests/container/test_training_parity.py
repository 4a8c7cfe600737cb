"""The training entry point under the image's training toolkit (sagemaker-training 4.8.0,
Python 3.12), with /opt/ml and hyperparameters.json as SageMaker writes them for our job."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.container.conftest import run_toolkit, write_opt_ml

# tools: needs .venv-container (make container-setup, part of make test); make check skips it.
pytestmark = [pytest.mark.timeout(1500), pytest.mark.tools]


def test_toolkit_trains_and_leaves_a_servable_model(toolkit_trained):
    base = toolkit_trained
    assert (base / "output" / "success").is_file()
    assert not (base / "output" / "failure").exists()
    model = base / "model"
    metadata = json.loads((model / "metadata.json").read_text())
    assert metadata["sklearn_version"] == "1.4.2"
    assert metadata["hyperparameters"]["shadows"] == 2  # from hyperparameters.json
    assert (model / "model.joblib").is_file()
    # The serving code travels in the model (network isolation: no S3 at endpoint start).
    assert (model / "code" / "inference.py").is_file()
    assert "validation_pr_auc=" in (base / "stdout.txt").read_text()


def test_toolkit_reads_gzip_compressed_channels(container_python, parity_data, toolkit_trained,
                                               tmp_path):
    """Channels of *.csv.gz (what SageMaker's S3 channels often hold) train the same model."""
    import gzip
    import re

    base = write_opt_ml(tmp_path / "opt-ml", parity_data, {"shadows": "2"})
    for channel in ("train", "validation"):
        plain = base / "input" / "data" / channel / f"{channel}.csv"
        (plain.parent / f"{channel}.csv.gz").write_bytes(gzip.compress(plain.read_bytes(),
                                                                       mtime=0))
        plain.unlink()
    proc = run_toolkit(container_python, base)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metric = re.compile(r"validation_pr_auc=\S+")
    assert metric.findall(proc.stdout) == metric.findall((toolkit_trained / "stdout.txt")
                                                         .read_text())
    assert (base / "model" / "model.joblib").is_file()


def _breach(data_dir, tmp_path):
    df = pd.read_csv(data_dir / "train.csv")
    df.loc[3, "hour"] = 24
    out = tmp_path / "breach"
    out.mkdir()
    for name in ("train", "validation"):
        (df if name == "train" else pd.read_csv(data_dir / f"{name}.csv")).to_csv(
            out / f"{name}.csv", index=False)
    return out


@pytest.mark.parametrize("case, hyperparameters, reason", [
    ("bad value", {"shadows": "abc"}, "argument --shadows: 'abc' is not an integer in [1, 100]"),
    ("out of range", {"regularization-c": "0"}, "argument --regularization-c: '0' is outside a "
                                                "number in [1e-06, 1e+06]"),
    ("unknown name", {"max-depth": "3"}, "unrecognized arguments: --max-depth 3"),
    ("contract breach", {}, "train.csv: column hour: 1 value(s) outside the allowed range "
                            "(first: 24); expected int in [0, 23]"),
    ("missing channel", {}, "validation: no .csv or .csv.gz file found"),
])
def test_failed_job_says_why_in_the_failure_file(case, hyperparameters, reason, container_python,
                                                 parity_data, tmp_path):
    data = _breach(parity_data, tmp_path) if case == "contract breach" else parity_data
    channels = ("train",) if case == "missing channel" else ("train", "validation")
    base = write_opt_ml(tmp_path / "opt-ml", data, hyperparameters, channels)
    if case == "missing channel":
        (base / "input" / "data" / "validation").mkdir()
    proc = run_toolkit(container_python, base)
    assert proc.returncode != 0
    # What DescribeTrainingJob.FailureReason shows: the first 1024 characters of this file.
    failure = (base / "output" / "failure").read_text()
    assert "\n" not in failure
    assert failure.endswith(reason) if case == "missing channel" else failure == reason
    assert f"error: {failure}" in proc.stderr
    assert not (base / "model" / "model.joblib").exists()
