import json

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


def test_local_run_exits_1_when_the_gate_fails(tmp_path, noise_train_csv, capsys, splits):
    import numpy as np
    import pandas as pd

    df = pd.concat(list(splits.values()), ignore_index=True)
    df["is_fraud"] = np.random.RandomState(1).permutation(df["is_fraud"].to_numpy())
    data = tmp_path / "noise.csv"
    df.to_csv(data, index=False)
    assert local_run.main(["--data", str(data), "--workdir", str(tmp_path / "w")]) == 1
    assert "gate: FAILED: rejected: " in capsys.readouterr().out
    assert json.loads((tmp_path / "w" / "evaluation.json").read_text())["passed"] is False


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


def test_local_run_reads_gzip_compressed_data(tmp_path, splits, capsys):
    import pandas as pd

    df = pd.concat(list(splits.values()), ignore_index=True)
    data = tmp_path / "train.csv.gz"
    df.to_csv(data, index=False, compression={"method": "gzip", "mtime": 0})
    code = local_run.main(["--data", str(data), "--workdir", str(tmp_path / "w")])
    assert code in (0, 1), capsys.readouterr().err  # gated, whichever way the gate went
    evaluation = json.loads((tmp_path / "w" / "evaluation.json").read_text())
    assert evaluation["data"] == str(data)
    # Every row was read and split: the split files hold the whole data set.
    parts = [pd.read_csv(p) for p in sorted((tmp_path / "w" / "data").glob("*.csv"))]
    assert len(parts) == 3 and sum(len(p) for p in parts) == len(df)
