"""SageMaker script-mode training entry point.

SageMaker (and `sagemaker-training` locally) runs this with hyperparameters as `--name value`,
channels in SM_CHANNEL_TRAIN / SM_CHANNEL_VALIDATION, and writes SM_MODEL_DIR (packed into
model.tar.gz) and SM_OUTPUT_DATA_DIR (packed into output.tar.gz).

The classifier is pipeline_src.model's scorecard (cuts added one at a time to a logistic
regression while they beat the same search on shuffled columns). Its decision threshold
maximises F1 on out-of-fold scores over the train and validation channels together (5-fold), so
it rests on every fraud case available rather than the few in validation; the final model is then
fitted on both channels. Test data is never seen.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass

# The SageMaker toolkit runs this file as a script from the source directory, whose root holds
# the pipeline_src package; make that importable when run as `python pipeline_src/train.py`.
if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline_src.contract import ContractError, encode, feature_names, label_name  # noqa: E402

SEED = 42


class TrainingFailure(Exception):
    """Training cannot go on; str() is the one-line reason SageMaker shows as FailureReason."""


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter as SageMaker passes it (`--name value`, the value a string). The one
    definition: the entry point parses with it and the config check (infra/config.py) applies
    it before synth."""

    name: str
    type: type
    default: object
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    help: str = ""

    def parse(self, value):
        """The typed value of a string, JSON number or the default; ValueError naming the rule."""
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is a boolean; expected {self.describe()}")
        try:
            if self.type is int:
                number = float(value) if isinstance(value, (int, float)) else None
                typed = int(value) if number is None else int(number)
                if number is not None and number != typed:
                    raise ValueError
            else:
                typed = self.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not {self.describe()}") from None
        if self.type is float and not math.isfinite(typed):
            raise ValueError(f"{value!r} is not {self.describe()}")
        if self.choices and typed not in self.choices:
            raise ValueError(f"{value!r} is not {self.describe()}")
        if ((self.min is not None and typed < self.min)
                or (self.max is not None and typed > self.max)):
            raise ValueError(f"{value!r} is outside {self.describe()}")
        return typed

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kind = {int: "an integer", float: "a number"}.get(self.type, "a string")
        return f"{kind} in [{self.min:g}, {self.max:g}]" if self.min is not None else kind


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("min-samples-leaf", int, 50, 1, 100_000,
                   help="fewest rows on either side of a learned cut"),
    Hyperparameter("shadows", int, 3, 1, 100,
                   help="shuffled copies of every feature the cut search also runs on (more if "
                        "that gives fewer than 60 shadow columns)"),
    Hyperparameter("selection-margin", float, 2.0, 1.0, 1000.0,
                   help="how many times the best shuffled cut's statistic a cut must exceed "
                        "to join the model"),
    Hyperparameter("max-cuts", int, 16, 1, 60, help="most cuts in the model"),
    Hyperparameter("regularization-c", float, 10.0, 1e-6, 1e6,
                   help="inverse L2 strength of the logistic regression"),
    Hyperparameter("threshold-folds", int, 5, 2, 20,
                   help="folds of the out-of-fold scores the threshold is chosen on"),
    Hyperparameter("threads", int, 1, 1, 256,
                   help="BLAS/OpenMP threads while fitting (1: the fits are too small to gain "
                        "from more, and on a busy machine more threads oversubscribe it)"),
    Hyperparameter("threshold-metric", str, "f1", choices=("f1",)),
    Hyperparameter("random-state", int, SEED, 0, 2**32 - 1),
)
# Where SageMaker puts things: --<name> or the toolkit's environment variable.
LOCATIONS = {"train": "SM_CHANNEL_TRAIN", "validation": "SM_CHANNEL_VALIDATION",
             "model-dir": "SM_MODEL_DIR", "output-data-dir": "SM_OUTPUT_DATA_DIR"}


def check_hyperparameters(values: dict) -> dict[str, str]:
    """Check hyperparameters (names, types, ranges) as the entry point will parse them; return
    them as SageMaker passes them (strings). ValueError "<name>: <problem>" otherwise."""
    known = {h.name: h for h in HYPERPARAMETERS}
    out = {}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"{name}: not a hyperparameter of the training entry point; "
                             f"known: {', '.join(known)}")
        if isinstance(value, bool):
            raise ValueError(f"{name}: {value!r} is a boolean; expected {known[name].describe()}")
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            known[name].parse(text)  # exactly what the entry point will be given
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        out[name] = text
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TrainingFailure(message)


def _argument_type(h: Hyperparameter):
    def parse(text):
        try:
            return h.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = h.type.__name__
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    """Arguments as SageMaker passes them; TrainingFailure (one line) for any bad one."""
    parser = _Parser(description=__doc__.splitlines()[0])
    for h in HYPERPARAMETERS:
        parser.add_argument(f"--{h.name}", type=_argument_type(h), default=h.default, help=h.help)
    for name, env in LOCATIONS.items():
        parser.add_argument(f"--{name}", default=os.environ.get(env))
    args = parser.parse_args(argv)
    for name, env in LOCATIONS.items():
        if not getattr(args, name.replace("-", "_")):
            raise TrainingFailure(f"--{name} not given and {env} is not set")
    return args


def build_estimator(args: argparse.Namespace):
    from pipeline_src.model import ScorecardClassifier

    return ScorecardClassifier(min_samples_leaf=args.min_samples_leaf, n_shadows=args.shadows,
                               margin=args.selection_margin, max_cuts=args.max_cuts,
                               C=args.regularization_c, random_state=args.random_state)


def choose_threshold(y_true, scores) -> float:
    """The probability cut-off that maximises F1 on the given scores."""
    from pipeline_src.model import f1_threshold

    return f1_threshold(y_true, scores)


def train(train_df, validation_df, args: argparse.Namespace) -> tuple[object, dict]:
    """Threshold from out-of-fold scores on train + validation, then the final fit on both.

    Returns (estimator, metadata). The validation_* metrics are those out-of-fold scores': each
    row scored by a model that did not see it.
    """
    import pandas as pd
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from pipeline_src.model import out_of_fold_scores
    from pipeline_src.model_io import check_sklearn_version

    check_sklearn_version()
    features = feature_names()
    both = pd.concat([train_df, validation_df], ignore_index=True)
    label = label_name()
    X, y = encode(both), both[label].to_numpy()
    folds = min(args.threshold_folds, int(y.sum()), int(len(y) - y.sum()))
    if folds < 2:
        raise TrainingFailure(f"train and validation hold {int(y.sum())} fraud case(s) together; "
                              "at least 2 are needed to choose a threshold")
    estimator = build_estimator(args)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        scores = out_of_fold_scores(estimator, X, y, folds=folds, random_state=args.random_state)
        threshold = choose_threshold(y, scores)
        estimator.fit(X, y)
    fit_seconds = time.perf_counter() - started

    predicted = (scores >= threshold).astype(int)
    metrics = {
        "validation_roc_auc": float(roc_auc_score(y, scores)),
        "validation_pr_auc": float(average_precision_score(y, scores)),
        "validation_precision": float(precision_score(y, predicted, zero_division=0)),
        "validation_recall": float(recall_score(y, predicted, zero_division=0)),
        "validation_f1": float(f1_score(y, predicted, zero_division=0)),
        "train_rows": int(len(train_df)),
        "train_positives": int(train_df[label].sum()),
        "validation_rows": int(len(validation_df)),
        "validation_positives": int(validation_df[label].sum()),
        "threshold_folds": folds,
        "fit_seconds": round(fit_seconds, 3),
    }
    hyperparameters = {k: v for k, v in vars(args).items()
                       if k not in ("train", "validation", "model_dir", "output_data_dir")}
    metadata = {
        "features": features,
        "label": label,
        "threshold": threshold,
        "estimator": type(estimator).__name__,
        "scorecard": estimator.scorecard(features),
        "hyperparameters": hyperparameters,
        "training_metrics": metrics,
    }
    return estimator, metadata


def write_failure(reason: str) -> None:
    """Leave the reason where the training toolkit and SageMaker read it: SageMaker reports the
    first 1024 characters of <output dir>/failure as FailureReason, and the toolkit keeps a
    failure file the script wrote
    (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html)."""
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "failure"), "w") as fh:
            fh.write(reason[:1024])


def main(argv=None) -> int:
    """Train; on any failure print "error: <reason>", write it to the failure file, exit 2 for
    bad input (arguments, data) and 1 for anything else."""
    from pipeline_src.model_io import ModelLoadError

    try:
        return _run(parse_args(argv))
    except (TrainingFailure, ContractError, ModelLoadError) as exc:
        reason, status = " ".join(str(exc).split()), 2
    except Exception as exc:  # noqa: BLE001 - every failure must say why, in one line
        reason, status = f"{type(exc).__name__}: {' '.join(str(exc).split())}", 1
    print(f"error: {reason}", file=sys.stderr)
    write_failure(reason)
    return status


def _run(args: argparse.Namespace) -> int:
    from pipeline_src.contract import read_channel
    from pipeline_src.model_io import save_model

    train_df = read_channel(args.train)
    validation_df = read_channel(args.validation)
    estimator, metadata = train(train_df, validation_df, args)
    save_model(args.model_dir, estimator, metadata)
    os.makedirs(args.output_data_dir, exist_ok=True)
    with open(os.path.join(args.output_data_dir, "training_metrics.json"), "w") as fh:
        json.dump(metadata["training_metrics"], fh, indent=2, sort_keys=True)
    # One "name=value" per line, for the training job's metric definitions.
    for name, value in metadata["training_metrics"].items():
        print(f"{name}={value}")
    print(f"threshold={metadata['threshold']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
