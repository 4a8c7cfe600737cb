"""The SageMaker scikit-learn container's own packages (.venv-container, built by
scripts/container-env.sh from envs/container-py312): its training toolkit and its serving
stack, run on this machine with the /opt/ml layout under a temporary SAGEMAKER_BASE_DIR."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONTAINER_PYTHON = ROOT / ".venv-container" / "bin" / "python"
TOOLKIT = "from sagemaker_training.cli.train import main; main()"
JOB_NAME = "fraud-mlops-dev-20260101T000000-parity"


def clean_environment(**extra) -> dict:
    """This process's environment without SageMaker, pip, thread-count (tests/conftest.py sets
    them for the suite) or proxy settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SM_", "SAGEMAKER_", "PIP_", "PYTHON", "OMP_", "OPENBLAS_",
                                "MKL_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def container_python() -> str:
    proc = subprocess.run(["make", "--no-print-directory", "container-setup"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1500)
    if proc.returncode:
        pytest.fail(f"scripts/container-env.sh failed: {proc.stderr.strip()[-2000:]}")
    version = subprocess.run([str(CONTAINER_PYTHON), "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True).stdout.strip()
    if not version.startswith("3.12."):
        warnings.warn(f"container parity runs on Python {version}, not the image's 3.12")
    return str(CONTAINER_PYTHON)


@pytest.fixture(scope="session")
def parity_data(tmp_path_factory) -> Path:
    from pipeline_src.sample_data import generate, split, write_splits

    out = tmp_path_factory.mktemp("parity-data")
    write_splits(split(generate(10_000, seed=7), seed=7), out)
    return out


def write_opt_ml(base: Path, data_dir: Path, hyperparameters: dict,
                 channels=("train", "validation")) -> Path:
    """/opt/ml as SageMaker lays it out for the job pipeline_src.jobs.train starts: its
    CreateTrainingJob HyperParameters (every value a JSON string) become hyperparameters.json,
    its channels inputdataconfig.json, the code channel holds the job's sourcedir.tar.gz.
    The one change: the bundle path points into `base` instead of /opt/ml."""
    sys.path.insert(0, str(ROOT))
    from pipeline_src.jobs import common
    from pipeline_src.jobs.train import CODE_CHANNEL_DIR, training_job_request
    from tests.pipeline_src.conftest import job_environment

    request = training_job_request(job_environment(), JOB_NAME, hyperparameters,
                                   "sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
                                   "s3://bucket/training/source")
    hps = dict(request["HyperParameters"])
    code = base / "input" / "data" / "code"
    hps["sagemaker_submit_directory"] = json.dumps(
        json.loads(hps["sagemaker_submit_directory"]).replace(CODE_CHANNEL_DIR, str(code)))
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    (config / "inputdataconfig.json").write_text(json.dumps({
        c["ChannelName"]: {"ContentType": c["ContentType"], "TrainingInputMode": "File",
                           "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for c in request["InputDataConfig"]}))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
    for channel in channels:
        (base / "input" / "data" / channel).mkdir(parents=True)
        shutil.copy(data_dir / f"{channel}.csv", base / "input" / "data" / channel)
    code.mkdir(parents=True)
    (code / "sourcedir.tar.gz").write_bytes(common.sourcedir_bytes())
    return base


def run_toolkit(python: str, base: Path) -> subprocess.CompletedProcess:
    """The image's training command (the toolkit's `train` entry point) on this /opt/ml."""
    env = clean_environment(SAGEMAKER_BASE_DIR=str(base),
                            # The toolkit's local-mode switch: do not wait for algo-1's DNS name.
                            SM_STUDIO_LOCAL_MODE="true")
    return subprocess.run([python, "-c", TOOLKIT], env=env, cwd=base, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="session")
def toolkit_trained(container_python, parity_data, tmp_path_factory) -> Path:
    """A model trained by the container's toolkit: the /opt/ml folder after a successful job."""
    base = write_opt_ml(tmp_path_factory.mktemp("opt-ml"), parity_data, {"shadows": "2"})
    proc = run_toolkit(container_python, base)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (base / "stdout.txt").write_text(proc.stdout)
    return base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
