"""The latency benchmark's small run: every family is timed on both paths, the compiled ones
give predict_proba's numbers (the benchmark raises otherwise), and the table says so."""
import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_latency.py"


def test_small_run_times_every_family_on_both_paths(tmp_path, capsys):
    from pipeline_src.train import FAMILIES

    spec = importlib.util.spec_from_file_location("bench_latency", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    output = tmp_path / "latency.json"
    bench.main(["--rows", "3000", "--rounds", "2", "--requests", "5", "--output", str(output)])
    result = json.loads(output.read_text())
    assert list(result["families"]) == list(FAMILIES)
    for family, timing in result["families"].items():
        assert timing["compiled"] == (family != "scorecard")
        assert len(timing["rounds"]["predict_proba"]) == 2
        assert len(timing["rounds"]["fast"]) == (2 if timing["compiled"] else 0)
    out = capsys.readouterr().out
    assert "predict_proba / fast" in out and "scorecard" in out and "no compiled form" in out
