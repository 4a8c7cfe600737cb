"""The data contract file drives every consumer: a copy of the project whose
pipeline_src/contract.json (and nothing else) declares online_transaction categorical
("in_store", "online") instead of an integer 0..1, run as a user runs it. Training (the entry point
under the SageMaker training toolkit), evaluation, serving (the handlers the container calls),
the monitor and the deploy smoke test's rows (infra/app.py) all follow the edited file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synth_runs import with_lambda_dependencies

ROOT = Path(__file__).resolve().parent.parent
COLUMN = "online_transaction"
VALUES = ["in_store", "online"]
# The copy's code, the one user edit, and where each run writes.
COPIED = ("main.py", "cdktf.json", "pipeline_src", "infra", "lambda_deploy", "aws_clients",
          "config")

pytestmark = pytest.mark.timeout(900)


def run(project: Path, *args, check=True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    proc = subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=800)
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def edited_project(parent: Path) -> Path:
    """A copy of the project under parent whose contract.json (only) declares COLUMN
    categorical."""
    project = parent / "project"
    project.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".*"))
        else:
            shutil.copy(source, project / name)
    with_lambda_dependencies(project)
    path = project / "pipeline_src" / "contract.json"
    data = json.loads(path.read_text())
    index = next(i for i, f in enumerate(data["features"]) if f["name"] == COLUMN)
    data["features"][index] = {"name": COLUMN, "kind": "categorical", "values": VALUES,
                               "unseen": "reject", "example": "in_store",
                               "description": "where the card was used"}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return project


def train_copy(project: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """`main.py run-local` in the copy: sample data, contract check, training under the SageMaker
    training toolkit, evaluation, smoke test. Returns (work folder, the run)."""
    workdir = project / "work"
    proc = run(project, "main.py", "run-local", "--rows", "20000", "--workdir", str(workdir))
    return workdir, proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return edited_project(tmp_path_factory.mktemp("edited"))


@pytest.fixture(scope="module")
def trained(project) -> tuple[Path, subprocess.CompletedProcess]:
    return train_copy(project)


def test_the_copy_runs_its_own_code(project):
    proc = run(project, "-c", "import pipeline_src.contract as c, infra.app as a; "
                              "print(c.__file__); print(a.__file__)")
    assert all(Path(line).is_relative_to(project) for line in proc.stdout.split())


def test_training_and_evaluation_follow(project, trained):
    workdir, proc = trained
    assert "==> inference smoke test" in proc.stdout and "evaluate and gate" in proc.stdout
    # The sample data is written in the contract's values, and the contract check read them.
    header, first = (workdir / "data" / "train.csv").read_text().splitlines()[:2]
    column = header.split(",").index(COLUMN)
    values = {line.split(",")[column]
              for line in (workdir / "data" / "train.csv").read_text().splitlines()[1:]}
    assert values == set(VALUES)
    model = workdir / "opt_ml" / "model"
    metadata = json.loads((model / "metadata.json").read_text())
    assert metadata["encoding"][COLUMN] == VALUES
    # The model carries the edited file to the serving container.
    assert (model / "code" / "pipeline_src" / "contract.json").read_bytes() == \
        (project / "pipeline_src" / "contract.json").read_bytes()
    evaluation = json.loads((workdir / "evaluation.json").read_text())
    assert evaluation["rows"] == 4000 and evaluation["pr_auc"] > evaluation["baseline"]["pr_auc"]


def test_training_refuses_data_in_the_old_spelling(project, trained, tmp_path):
    # The unedited contract's data: online_transaction as 0/1.
    from pipeline_src.sample_data import generate

    data = tmp_path / "old.csv"
    generate(5000, seed=3).to_csv(data, index=False)
    proc = run(project, "main.py", "run-local", "--data", str(data), "--workdir",
               str(tmp_path / "w"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: old.csv: column online_transaction: 5000 undeclared value(s) (first: '1'); "
        "expected one of 2 declared values ('in_store', 'online')")


SERVE = """
import json, sys
from pipeline_src import inference
from pipeline_src.contract import example_rows, feature_names
model = inference.model_fn(sys.argv[1])
row = dict(zip(feature_names(), example_rows(1)[0]))
def csv(**change):
    values = dict(row, **change)
    return ",".join(str(v) for v in values.values())
def answer(body, media):
    status, text, _ = inference.handle(model, body, media, "application/json")
    return [status, json.loads(text)]
print(json.dumps({
    "csv": answer(csv(online_transaction="online"), "text/csv"),
    "json": answer(json.dumps([dict(row, online_transaction="online")]), "application/json"),
    "old": answer(csv(online_transaction="1"), "text/csv"),
    "json_old": answer(json.dumps([dict(row, online_transaction=1)]), "application/json"),
}))
"""


def test_serving_follows(project, trained):
    workdir, _ = trained
    proc = run(project, "-c", SERVE, str(workdir / "opt_ml" / "model"))
    answers = json.loads(proc.stdout)
    assert answers["csv"][0] == 200 and answers["csv"] == answers["json"]
    message = ("row 1, column online_transaction: '1' is an undeclared value; expected one of 2 "
               "declared values ('in_store', 'online')")
    assert answers["old"] == [400, {"error": message}]
    assert answers["json_old"] == [400, {"error": message}]


def test_monitoring_follows(project, trained):
    workdir, _ = trained
    model = workdir / "opt_ml" / "model"
    capture = project / "capture"
    run(project, "-m", "pipeline_src.sample_capture", "--out", str(capture), "--rows", "1500",
        "--model", str(model), "--start", "2026-11-22T05:00")
    bodies = "".join(p.read_text() for p in (capture / "sample-endpoint").rglob("*.jsonl"))
    assert "in_store" in bodies and "online" in bodies  # requests carry the declared text
    monitor = project / "monitor"
    run(project, "main.py", "monitor-local", "--capture", str(capture / "sample-endpoint"),
        "--reference", str(capture / "reference.csv"), "--labels", str(capture / "labels.csv"),
        "--model", str(model), "--workdir", str(monitor))
    summary = json.loads((monitor / "monitoring.json").read_text())
    assert summary["rows"] == 1500 and summary["contract_violations"] == 0
    row = next(r for r in summary["features"] if r["column"] == COLUMN)
    assert row["type"] == "categorical"
    assert summary["labelled_rows"] == 1500  # labels.csv spelled the contract's label values


SMOKE = """
import json, sys, tempfile
from pathlib import Path
from infra.app import build_packages
from lambda_deploy.smoke_test import contract_violation
from pipeline_src import inference
import zipfile
with tempfile.TemporaryDirectory() as tmp:
    source_zip, _, smoke_csv = build_packages(Path(tmp))
    contract = zipfile.ZipFile(source_zip.path).read("pipeline_src/contract.json").decode()
model = inference.model_fn(sys.argv[1])
rows = len(smoke_csv.splitlines())
status, body, _ = inference.handle(model, smoke_csv, "text/csv", "application/json")
old_status, _, _ = inference.handle(model, sys.argv[2], "text/csv", "application/json")
print(json.dumps({"csv": smoke_csv, "contract": contract, "status": status, "old": old_status,
                  "violation": contract_violation(body.encode(), rows)}))
"""


def test_the_deploy_smoke_test_follows(project, trained, tmp_path):
    """infra/app.py builds the smoke-test rows (SMOKE_TEST_CSV of the deploy function) and the
    source zip from the edited file; the endpoint's model answers them as the Lambda expects."""
    from infra.app import build_packages

    workdir, _ = trained
    _, _, unedited_csv = build_packages(tmp_path)
    proc = run(project, "-c", SMOKE, str(workdir / "opt_ml" / "model"), unedited_csv)
    result = json.loads(proc.stdout)
    assert result["contract"] == (project / "pipeline_src" / "contract.json").read_text()
    column = json.loads(result["contract"])["features"]
    index = [f["name"] for f in column].index(COLUMN)
    assert [line.split(",")[index] for line in result["csv"].splitlines()] == ["in_store",
                                                                               "online"]
    assert result["status"] == 200 and result["violation"] is None
    assert result["old"] == 400  # the unedited rows would fail the deploy's smoke test


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Path:
    """A copy whose contract declares 300 values for a categorical column (more codes than
    HistGradientBoosting's categorical support takes)."""
    project = tmp_path_factory.mktemp("broken") / "project"
    shutil.copytree(ROOT / "pipeline_src", project / "pipeline_src",
                    ignore=shutil.ignore_patterns("__pycache__", ".*"))
    for name in COPIED:
        if not (project / name).exists():
            source = ROOT / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    path = project / "pipeline_src" / "contract.json"
    data = json.loads(path.read_text())
    merchant = next(f for f in data["features"] if f["name"] == "merchant_category")
    merchant["values"] = [f"m{i}" for i in range(300)]
    path.write_text(json.dumps(data))
    return project


@pytest.mark.parametrize("argv, output", [
    (["main.py", "synth", "--env", "dev", "--outdir", "out"], "out"),
    (["main.py", "run-local", "--rows", "2000", "--workdir", "work"], "work/evaluation.json"),
    (["-m", "pipeline_src.sample_data", "--out", "data", "--rows", "2000"], "data/train.csv"),
    (["main.py", "monitor-local", "--capture", "cap", "--reference", "ref.csv", "--workdir",
      "mon"], "mon/monitoring.json"),
])
def test_an_invalid_contract_stops_every_command_with_one_line(broken, argv, output):
    (broken / "cap").mkdir(exist_ok=True)
    (broken / "cap" / "x.jsonl").write_text("{}\n")
    (broken / "ref.csv").write_text("amount\n1\n")
    proc = run(broken, *argv, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == ("error: contract.json: features.3.values: List should have at "
                                   "most 255 items after validation, not 300")
    written = broken / output
    assert not written.exists() or (written.is_dir() and not any(written.iterdir()))
