import json
import re
import shutil

import pytest

from pipeline_src import model_io
from pipeline_src.model_io import ModelLoadError, load_model


def test_load_returns_estimator_threshold_and_features(model_dir):
    model = load_model(model_dir)
    assert hasattr(model["estimator"], "predict_proba")
    assert model["threshold"] == model["metadata"]["threshold"]


def test_model_saved_by_another_sklearn_version_is_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["sklearn_version"] = "1.2.1"
    (copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError) as exc:
        load_model(copy)
    assert str(exc.value) == ("model was saved with scikit-learn 1.2.1 but this environment runs "
                              "scikit-learn 1.4.2; load it with 1.2.1")


def test_running_sklearn_must_match_the_container_pin():
    with pytest.raises(ModelLoadError) as exc:
        model_io.check_sklearn_version("1.5.0")
    assert str(exc.value) == ("scikit-learn 1.5.0 is installed but the pipeline is pinned to 1.4.2 "
                              "(the SageMaker container's version)")


def test_jobs_install_the_pinned_scikit_learn():
    from pathlib import Path

    import pipeline_src

    root = Path(pipeline_src.__file__).resolve().parent.parent

    def pin(line: str) -> tuple[str, str]:  # PEP 503 name, version
        name, version = line.split()[0].split("==")
        return re.sub(r"[-_.]+", "-", name.lower()), version

    def pins(path: Path) -> set[tuple[str, str]]:
        # Exported from a uv.lock: "name==version \\" lines, then hash lines.
        return {pin(l) for l in path.read_text().splitlines() if "==" in l}

    project = pins(root / "requirements.txt")
    jobs = pins(root / "pipeline_src/requirements-jobs.txt")
    assert ("scikit-learn", pipeline_src.SKLEARN_VERSION) in jobs
    # The CodeBuild jobs run the packages the project environment tested, at the same versions.
    assert jobs <= project, jobs - project


def test_model_with_other_features_is_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["features"] = metadata["features"][:-1]
    (copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError) as exc:
        load_model(copy)
    assert str(exc.value).startswith("model features do not match the data contract")


def test_model_that_cannot_score_is_refused_at_load_time(model_dir, tmp_path):
    """An estimator that unpickles but cannot score (an incompatible or foreign object) is
    refused where it is loaded, naming the file, instead of failing inside a metric later."""
    import joblib

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    joblib.dump({"not": "an estimator"}, copy / "model.joblib")
    with pytest.raises(ModelLoadError) as exc:
        load_model(copy)
    assert str(exc.value) == (f"{copy / 'model.joblib'}: cannot score the contract's example "
                              "rows: AttributeError: 'dict' object has no attribute "
                              "'predict_proba'")
