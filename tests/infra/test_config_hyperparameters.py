"""config/*.json hyperparameters are checked before synth by the training entry point's own
argument definitions (pipeline_src/train.py HYPERPARAMETERS), not in a billed training job."""
from __future__ import annotations

import pytest

from infra.config import ConfigError, load_environment
from pipeline_src import train


@pytest.mark.parametrize("hyperparameters, expected", [
    ({"max_depth": 3}, "training.hyperparameters.max_depth: not a hyperparameter of the training "
                       "entry point; known: model-family,"),
    ({"shadows": 2.5}, "training.hyperparameters.shadows: '2.5' is not an integer in [1, 100]"),
    ({"regularization-c": "strong"}, "training.hyperparameters.regularization-c: 'strong' is not a number"),
    ({"threshold-folds": 1}, "training.hyperparameters.threshold-folds: '1' is outside an integer "
                             "in [2, 20]"),
    ({"threshold-metric": "recall"}, "training.hyperparameters.threshold-metric: 'recall' is not "
                                     "one of f1"),
])
def test_hyperparameter_the_entry_point_would_refuse_fails_config(hyperparameters, expected):
    with pytest.raises(ConfigError) as exc:
        load_environment("dev", {"training": {"hyperparameters": hyperparameters}})
    message = str(exc.value)
    assert "\n" not in message
    assert message.split(": ", 1)[1].startswith(expected) or expected in message


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_repository_hyperparameters_parse_in_the_entry_point(env):
    hps = load_environment(env).training.hyperparameters
    argv = [a for k, v in hps.items() for a in (f"--{k}", v)]
    args = train.parse_args(argv + ["--train", "t", "--validation", "v", "--model-dir", "m",
                                    "--output-data-dir", "o"])
    for name, value in hps.items():
        assert str(getattr(args, name.replace("-", "_"))) in (value, str(float(value)))
