"""SageMaker script-mode training entry point.

SageMaker (and `sagemaker-training` locally) runs this with hyperparameters as `--name value`,
channels in SM_CHANNEL_TRAIN / SM_CHANNEL_VALIDATION, and writes SM_MODEL_DIR (packed into
model.tar.gz) and SM_OUTPUT_DATA_DIR (packed into output.tar.gz).

The model family is chosen on the user's data: pipeline_src.model's scorecard, an L2 logistic
regression on encoded features, scikit-learn's HistGradientBoosting (categorical codes split as
ordered numbers, and split natively) and RandomForest each get out-of-fold scores over the train
and validation channels together (the same stratified folds), and the simplest family whose
out-of-fold PR-AUC ties with the best (within one standard error of the per-fold differences, or
model.TIE_RATIO of it) wins (`--model-family` pins one). The decision threshold maximises F1 on
the chosen family's out-of-fold scores, so it rests on every fraud case available rather than
the few in validation; the final model is then fitted on both channels. Test data is never seen. Above `--selection-rows` rows the family and
threshold are chosen on a stratified subsample of that size (the final fit uses every row), so
the choice costs the same at any data size.
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

from pipeline_src.contract import (ContractError, categorical_mask, encode,  # noqa: E402
                                   feature_names, label_name)

SEED = 42

# The model families pipeline_src.model builds, simplest first: the order ties are broken in. The
# scorecard is a dozen readable cuts, the logistic regression one weight per encoded column, the
# gradient boosting a hundred shallow trees (on categorical codes as ordered numbers, a threshold
# per split; then split natively, a subset of categories per split), the random forest a hundred
# deep ones, the blend the mean of the two of them with the best out-of-fold PR-AUC. Declared here,
# not in model.py, because synth checks the `model-family` hyperparameter (infra/config.py imports
# this module) and must not need numpy or scikit-learn (the cdktn environment has neither).
FAMILIES = ("scorecard", "logistic", "hist_gradient_boosting_ordinal", "hist_gradient_boosting",
            "random_forest", "blend")


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
    Hyperparameter("model-family", str, "auto", choices=("auto",) + FAMILIES,
                   help="auto: the family with the best out-of-fold PR-AUC (ties to the "
                        "simpler); otherwise that family only"),
    Hyperparameter("selection-rows", int, 200_000, 1_000, 100_000_000,
                   help="most rows the family and threshold are chosen on (a stratified "
                        "subsample of train + validation above it)"),
    Hyperparameter("logistic-c", float, 1.0, 1e-6, 1e6,
                   help="inverse L2 strength of the logistic-regression family"),
    Hyperparameter("boosting-max-iter", int, 100, 10, 10_000,
                   help="most trees of the gradient-boosting families (early stopping on a held-out "
                        "tenth of the rows ends it sooner when that tenth holds 1,000 frauds)"),
    Hyperparameter("forest-trees", int, 100, 10, 2_000,
                   help="trees of the random-forest family"),
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
                   help="inverse L2 strength of the scorecard's weights"),
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


def estimator_params(args: argparse.Namespace) -> dict:
    """Each family's constructor arguments from the hyperparameters (model.make_estimator)."""
    return {
        "scorecard": {"min_samples_leaf": args.min_samples_leaf, "n_shadows": args.shadows,
                      "margin": args.selection_margin, "max_cuts": args.max_cuts,
                      "C": args.regularization_c, "random_state": args.random_state},
        "logistic": {"C": args.logistic_c},
        "hist_gradient_boosting": {"max_iter": args.boosting_max_iter,
                                   "random_state": args.random_state},
        "random_forest": {"n_estimators": args.forest_trees, "random_state": args.random_state},
    }


def train(train_df, validation_df, args: argparse.Namespace) -> tuple[object, dict]:
    """Family and threshold from out-of-fold scores on train + validation (a stratified subsample
    above --selection-rows), then the final fit of that family on both channels.

    Returns (estimator, metadata). The validation_* metrics are the chosen family's out-of-fold
    scores': each row scored by a model that did not see it.
    """
    import pandas as pd
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
    from threadpoolctl import threadpool_limits

    from pipeline_src.evaluate import pr_auc
    from pipeline_src.model import (TIE_RATIO, choose_family, f1_threshold, make_estimator,
                                    stratified_subsample)
    from pipeline_src.model_io import check_sklearn_version

    check_sklearn_version()
    features = feature_names()
    label = label_name()
    counts = {"train_rows": int(len(train_df)), "train_positives": int(train_df[label].sum()),
              "validation_rows": int(len(validation_df)),
              "validation_positives": int(validation_df[label].sum())}
    both = pd.concat([train_df, validation_df], ignore_index=True)
    X, y = encode(both), both[label].to_numpy()
    # At millions of rows the frames are a third of the memory: keep only X and y. (_run hands
    # the frames over without keeping them.)
    del train_df, validation_df, both
    chosen_rows = stratified_subsample(y, args.selection_rows, args.random_state)
    X_select, y_select = X[chosen_rows], y[chosen_rows]
    folds = min(args.threshold_folds, int(y_select.sum()), int(len(y_select) - y_select.sum()))
    if folds < 2:
        raise TrainingFailure(f"train and validation hold {int(y.sum())} fraud case(s) together; "
                              "at least 2 are needed to choose a model and a threshold")
    pinned = args.model_family != "auto"
    categorical, params = categorical_mask(), estimator_params(args)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        try:
            family, candidates, scores = choose_family(
                X_select, y_select, categorical, params,
                families=(args.model_family,) if pinned else FAMILIES, folds=folds,
                random_state=args.random_state)
        except ValueError as exc:
            raise TrainingFailure(f"model-family {args.model_family}: {exc}") from None
        threshold = f1_threshold(y_select, scores)
        members = next(c for c in candidates if c["family"] == family).get("members", ())
        estimator = make_estimator(family, categorical, params, y, members).fit(X, y)
    fit_seconds = time.perf_counter() - started

    predicted = (scores >= threshold).astype(int)
    metrics = {
        "validation_roc_auc": float(roc_auc_score(y_select, scores)),
        "validation_pr_auc": pr_auc(y_select, scores),
        "validation_precision": float(precision_score(y_select, predicted, zero_division=0)),
        "validation_recall": float(recall_score(y_select, predicted, zero_division=0)),
        "validation_f1": float(f1_score(y_select, predicted, zero_division=0)),
        **counts,
        "selection_rows": int(len(y_select)),
        "threshold_folds": folds,
        "fit_seconds": round(fit_seconds, 3),
    }
    hyperparameters = {k: v for k, v in vars(args).items()
                       if k not in ("train", "validation", "model_dir", "output_data_dir")}
    rule = (f"pinned by --model-family {family}" if pinned else
            f"the simplest of {', '.join(FAMILIES)} (in that order) whose out-of-fold PR-AUC is "
            f"within one standard error of the per-fold differences to the best, or >= "
            f"{TIE_RATIO} x the best")
    metadata = {
        "features": features,
        "categorical": categorical,
        "label": label,
        "threshold": threshold,
        "estimator": type(estimator).__name__,
        "model_family": family,
        "model_selection": {"family": family, "rule": rule, "candidates": candidates,
                            "rows": int(len(y_select)), "positives": int(y_select.sum()),
                            "folds": folds},
        "hyperparameters": hyperparameters,
        "training_metrics": metrics,
    }
    if family == "scorecard":
        metadata["scorecard"] = estimator.scorecard(features)
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

    estimator, metadata = train(read_channel(args.train), read_channel(args.validation), args)
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
