import contextlib
import io
import json

import pytest

from pipeline_src import local_run


def test_local_run_passes_the_gate_on_the_sample_data(tmp_path, capsys):
    assert local_run.main(["--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for stage in ("==> data (sample, 50000 rows, seed 42)", "==> contract",
                  "==> train (SageMaker training toolkit, script mode)", "==> evaluate and gate",
                  "==> inference smoke test"):
        assert stage in out
    assert "gate: PASSED" in out
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["passed"] is True
    assert evaluation["data"] == "sample, 50000 rows, seed 42"  # says what it gated on
    assert evaluation["pr_auc"] >= 0.5 and evaluation["roc_auc"] >= 0.9
    for key in ("precision", "recall", "f1"):
        assert 0 < evaluation[key] <= 1
    # The toolkit ran the entry point: it unpacked the bundle and wrote SageMaker's markers.
    assert (tmp_path / "opt_ml" / "code" / "pipeline_src" / "train.py").is_file()
    assert (tmp_path / "opt_ml" / "output" / "success").is_file()


@pytest.fixture(scope="module")
def noise_run(splits, tmp_path_factory):
    """One run on the 20k-row data set with its labels shuffled, gzip-compressed: (exit code,
    stdout, stderr, data file, row count, workdir). Two behaviours, one training."""
    import numpy as np
    import pandas as pd

    df = pd.concat(list(splits.values()), ignore_index=True)
    df["is_fraud"] = np.random.RandomState(1).permutation(df["is_fraud"].to_numpy())
    tmp = tmp_path_factory.mktemp("noise-run")
    data = tmp / "noise.csv.gz"
    df.to_csv(data, index=False, compression={"method": "gzip", "mtime": 0})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = local_run.main(["--data", str(data), "--workdir", str(tmp / "w")])
    return code, out.getvalue(), err.getvalue(), data, len(df), tmp / "w"


def test_local_run_exits_1_when_the_gate_fails(noise_run):
    code, out, err, _, _, workdir = noise_run
    assert code == 1, err
    assert "gate: FAILED: rejected: " in out
    assert json.loads((workdir / "evaluation.json").read_text())["passed"] is False


def test_local_run_exits_2_on_a_contract_breach(tmp_path, splits, capsys):
    data = tmp_path / "upstream.csv"
    splits["test"].rename(columns={"distance_from_home": "distance_km"}).to_csv(data, index=False)
    assert local_run.main(["--data", str(data), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: upstream.csv: missing column(s): distance_from_home; "
                          "unexpected column(s): distance_km (renamed upstream?)")
    assert "\n" not in err


def test_local_run_exits_2_on_too_few_frauds(tmp_path, splits, capsys):
    df = splits["test"]
    small = df[df["is_fraud"] == 0].head(200)._append(df[df["is_fraud"] == 1].head(2))
    data = tmp_path / "small.csv"
    small.to_csv(data, index=False)
    assert local_run.main(["--data", str(data), "--workdir", str(tmp_path / "w")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: small.csv: 2 fraud and 200 legitimate rows; a 60/20/20 split with both classes "
        "in every part needs at least 5 of each")


def test_local_run_reads_gzip_compressed_data(noise_run):
    import pandas as pd

    _, _, _, data, rows, workdir = noise_run
    evaluation = json.loads((workdir / "evaluation.json").read_text())
    assert evaluation["data"] == str(data)
    # Every row was read and split: the split files hold the whole data set.
    parts = [pd.read_csv(p) for p in sorted((workdir / "data").glob("*.csv"))]
    assert len(parts) == 3 and sum(len(p) for p in parts) == rows
