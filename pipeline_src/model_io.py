"""Saving and loading the model artifact (what goes into SageMaker's model.tar.gz).

The artifact is `model.joblib` (the fitted estimator) next to `metadata.json` (feature list,
decision threshold, scikit-learn version, training metrics) and `code/`, the serving code: an
endpoint with network isolation cannot fetch its code from S3, so the model carries it (as the
SageMaker SDK's repacking does) and the container installs it from /opt/ml/model/code. Loading refuses a model saved by
another scikit-learn version: unpickling across versions can silently change predictions.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

from pipeline_src import SKLEARN_VERSION

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SERVING_CODE_DIR = "code"
PACKAGE_DIR = Path(__file__).resolve().parent
# The script-mode bundle (training code channel and the model's code/): pipeline_src's container
# modules plus the top-level module the serving container imports (SAGEMAKER_PROGRAM).
BUNDLE_MODULES = ("__init__.py", "contract.py", "contract.json", "evaluate.py", "model.py",
                  "model_io.py",
                  "train.py", "inference.py")
SERVING_PROGRAM = "inference.py"
# Only model_fn and transform_fn: the container refuses transform_fn beside input_fn/predict_fn/
# output_fn, and only transform_fn can answer a client error with a 4xx.
SERVING_SHIM = ('"""Serving entry point: the handlers live in pipeline_src.inference."""\n'
                "from pipeline_src.inference import model_fn, transform_fn  # noqa: F401\n")


class ModelLoadError(RuntimeError):
    """The artifact cannot be used here; str() is one line."""


def check_sklearn_version(running: str | None = None) -> None:
    """Train and serve only with the container's scikit-learn version."""
    import sklearn

    running = running or sklearn.__version__
    if running != SKLEARN_VERSION:
        raise ModelLoadError(f"scikit-learn {running} is installed but the pipeline is pinned to "
                             f"{SKLEARN_VERSION} (the SageMaker container's version)")


def bundle_members() -> list[tuple[str, bytes]]:
    """(path, content) of every file of the bundle, sorted."""
    members = [(f"pipeline_src/{name}", (PACKAGE_DIR / name).read_bytes())
               for name in BUNDLE_MODULES]
    members.append((SERVING_PROGRAM, SERVING_SHIM.encode()))
    return sorted(members)


def write_serving_code(model_dir) -> Path:
    code = Path(model_dir) / SERVING_CODE_DIR
    for name, data in bundle_members():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(data)
    return code


def save_model(model_dir, estimator, metadata: dict) -> Path:
    import joblib
    import sklearn

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_dir / MODEL_FILE)
    from pipeline_src.contract import encoding

    metadata = dict(metadata, sklearn_version=sklearn.__version__, encoding=encoding())
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    write_serving_code(model_dir)
    return model_dir


def load_metadata(model_dir) -> dict:
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path}: missing; not a model saved by pipeline_src.train")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc.msg})") from None


def load_model(model_dir) -> dict:
    """Return {"estimator", "threshold", "features", "metadata"}; ModelLoadError if unusable."""
    import joblib
    import sklearn

    from pipeline_src.contract import encoding, feature_names

    model_dir = Path(model_dir)
    metadata = load_metadata(model_dir)
    saved = metadata.get("sklearn_version")
    if saved != sklearn.__version__:
        raise ModelLoadError(f"model was saved with scikit-learn {saved} but this environment runs "
                             f"scikit-learn {sklearn.__version__}; load it with {saved}")
    if metadata.get("features") != feature_names():
        raise ModelLoadError("model features do not match the data contract: model has "
                             f"{metadata.get('features')}, contract has {feature_names()}")
    # Models saved before the contract had categorical columns carry no encoding: every column
    # was a number, and the demo's merchant_category codes equal its declared values' positions.
    saved_encoding = metadata.get("encoding")
    if saved_encoding is not None and saved_encoding != encoding():
        changed = next(name for name in saved_encoding if saved_encoding[name] !=
                       encoding().get(name))
        raise ModelLoadError(f"model encodes column {changed} as {saved_encoding[changed]} but "
                             f"the data contract as {encoding().get(changed)}; retrain the model")
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path}: missing")
    estimator = joblib.load(path)
    check_scores(estimator, path)
    return {
        "estimator": estimator,
        "threshold": float(metadata["threshold"]),
        "features": metadata["features"],
        "metadata": metadata,
    }


def outside_unit_interval(probabilities):
    """Indices of the probabilities that are not in [0, 1] (NaN included)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    return np.flatnonzero(~((p >= 0) & (p <= 1)))


def check_scores(estimator, path) -> None:
    """A model that cannot score the contract's example rows is unusable, whatever unpickled:
    say so at load time, as a ModelLoadError, rather than fail later inside a metric."""
    import pandas as pd

    from pipeline_src.contract import encode, example_rows, feature_names

    try:
        X = encode(pd.DataFrame(example_rows(2), columns=feature_names()))
        p = estimator.predict_proba(X)[:, 1]
    except Exception as exc:  # noqa: BLE001 - any failure to score means the model is unusable
        raise ModelLoadError(f"{path}: cannot score the contract's example rows: "
                             f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if outside_unit_interval(p).size:
        raise ModelLoadError(f"{path}: scores example rows outside [0, 1]: {p.tolist()}")


def extract_model_tarball(tarball, dest) -> Path:
    """Unpack model.tar.gz (as SageMaker writes it) into dest, refusing unsafe member paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelLoadError(f"{Path(tarball).name}: cannot unpack model artifact: {exc}") from None
    return dest
