from pipeline_src.contract import LABEL, validate_frame
from pipeline_src.sample_data import generate, main


def test_reference_data_set_has_151_frauds_in_50k_rows():
    df = generate()
    assert len(df) == 50_000 and int(df[LABEL].sum()) == 151
    validate_frame(df)


def test_generator_is_seeded():
    assert generate(1000, seed=7).equals(generate(1000, seed=7))
    assert not generate(1000, seed=7).equals(generate(1000, seed=8))


def test_splits_are_stratified_and_disjoint(splits):
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": 12_000, "validation": 4_000, "test": 4_000}
    rates = [v[LABEL].mean() for v in splits.values()]
    assert max(rates) - min(rates) < 0.0006


def test_command_writes_splits_and_prints_balance(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--rows", "20000"]) == 0
    out = capsys.readouterr().out
    assert "train         12000" in out and "test           4000" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv", "train.csv", "validation.csv"]


def test_command_refuses_too_few_rows(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--rows", "500"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: 500 sample rows: 1 fraud and 499 legitimate rows; a 60/20/20 split with both "
        "classes in every part needs at least 5 of each")
    assert list(tmp_path.iterdir()) == []
