"""Property tests of the bad-input contract: generated configurations, context values, CSVs,
plan JSON and arguments, through the real commands.

For every generated input: the exit code is one of the command's documented ones, nothing on
stderr but at most one line (never a traceback), and a refused run leaves nothing behind where
the command writes (and, for run-local, no earlier result either).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.test_bad_input import (DEV, GOOD_ROW, PLAN, PROD, SAMPLE_HEADER, check_contract,
                                   run_command)

# Deterministic (the same examples on every run and machine) and nothing written to the project.
PROPERTY = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=6)


def _like(value):
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-5, 5000)
    if isinstance(value, float):
        return st.floats(-1, 2, allow_nan=False)
    if isinstance(value, str):
        return st.sampled_from([value, value.upper(), value + "-x", "", "ml.c5.xlarge", "linear"])
    return json_values


@st.composite
def mutated(draw, document, max_edits: int = 3):
    """The document with a few edits at generated paths: a value changed (same type or any), a
    key removed, an unknown key added."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, max_edits))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["nudge", "replace", "remove", "add"]))
            if action == "nudge":  # same type, another value: often still a valid document
                node[key] = draw(_like(child))
            elif action == "replace":
                node[key] = draw(json_values)
            elif action == "remove":
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
            else:
                node.append(draw(json_values))
            break
    return doc


def _stack_written(out: Path) -> bool:
    return (out / "manifest.json").is_file() and any(out.glob("stacks/*/cdk.tf.json"))


@settings(PROPERTY, max_examples=25)
@given(doc=mutated(DEV))
def test_any_configuration_file(doc):
    from infra import config as config_module

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        tmp = Path(tmp)
        (tmp / "config").mkdir()
        (tmp / "config" / "dev.json").write_text(json.dumps(doc))
        (tmp / "config" / "prod.json").write_text(json.dumps(PROD))
        patch.setattr(config_module, "CONFIG_DIR", tmp / "config")
        patch.delenv("CDKTF_CONTEXT_JSON", raising=False)
        code, _, err = run_command(["synth", "--env", "dev", "--outdir", str(tmp / "out")])
        check_contract(code, err)
        event(f"exit {code}")
        assert code in (0, 2)
        assert _stack_written(tmp / "out") == (code == 0)
        if code == 2:
            assert err.startswith("error: config/dev.json") and not (tmp / "out").exists()


context_documents = st.one_of(
    st.text(max_size=30),
    json_values.map(json.dumps),
    st.fixed_dictionaries({}, optional={
        "environments": st.one_of(st.just("dev"), st.just(["dev"]), json_values),
        "overrides": st.one_of(json_values, st.builds(lambda d: {"dev": d}, mutated(DEV))),
    }).map(json.dumps),
)


@settings(PROPERTY, max_examples=25)
@given(raw=context_documents)
def test_any_cdktf_context(raw):
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        out = Path(tmp) / "out"
        patch.setenv("CDKTF_CONTEXT_JSON", raw)
        # Only dev: a valid context is synthesized for real, and one stack keeps that short.
        code, _, err = run_command(["synth", "-c", "environments=dev", "--outdir", str(out)])
        check_contract(code, err)
        event(f"exit {code}")
        assert code in (0, 2)
        assert _stack_written(out) == (code == 0)
        if code == 2:
            assert not out.exists()


BASE_ROWS = [SAMPLE_HEADER] + [GOOD_ROW] * 11 + [GOOD_ROW[:-1] + "1"]
cells = st.one_of(st.text(max_size=8), st.integers(-10**12, 10**12).map(str),
                  st.sampled_from(["", "NaN", "inf", "1e309", "0x10", " 1", "\"", "a,b", "1\n2"]))


@st.composite
def csv_files(draw) -> bytes:
    """The contract's header and a dozen rows (one fraud: never enough to train), with up to
    three cells, header names or bytes changed."""
    rows = [row.split(",") for row in BASE_ROWS]
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(cells)
    if draw(st.booleans()):
        c = draw(st.integers(0, len(rows[0]) - 1))
        for row in rows:
            row.pop(c) if draw(st.booleans()) else row.append(row[c])
    data = "\n".join(",".join(row) for row in rows).encode()
    if draw(st.booleans()):
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(max_size=4)) + data[position:]
    return data


@settings(PROPERTY, max_examples=60)
@given(content=csv_files())
def test_any_csv_for_run_local(content):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data.csv").write_bytes(content)
        work = tmp / "work"
        work.mkdir()
        (work / "evaluation.json").write_text('{"passed": true}')  # an earlier passing run
        code, _, err = run_command(["run-local", "--data", str(tmp / "data.csv"),
                                    "--workdir", str(work)])
        check_contract(code, err)
        event(f"exit {code}")
        assert code == 2  # at most four frauds: never enough to train
        assert err.startswith("error: data.csv")
        assert list(work.iterdir()) == []  # no stale result, nothing half-written


@settings(PROPERTY, max_examples=80)
@given(plan=st.one_of(mutated(PLAN, max_edits=4), json_values))
def test_any_plan_json_for_diff(plan):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "plan.json").write_text(json.dumps(plan))
        report = tmp / "review.md"
        code, _, err = run_command(["diff", "--plan", str(tmp / "plan.json"), "-o", str(report)])
        check_contract(code, err)
        event(f"exit {code}")
        assert code in (0, 2, 3)  # 1 would be an internal error: a crash on this input
        assert report.exists() == (code != 2)


arguments = st.one_of(st.integers(-10, 4000).map(str), st.text(max_size=6),
                      st.sampled_from(["", "1e3", "0x10", "100000000000000000000"]))


@settings(PROPERTY, max_examples=40)
@given(rows=arguments, seed=arguments,
       out=st.sampled_from(["{tmp}/data", "", "{tmp}/file", "{tmp}/file/sub", "{tmp}/a/b"]))
def test_any_sample_data_arguments(rows, seed, out):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "file").write_text("x")
        target = out.replace("{tmp}", tmp)
        code, _, err = run_command(["-m-sample-data", "--out", target, "--rows", rows,
                                    "--seed", seed])
        check_contract(code, err)
        event(f"exit {code}")
        assert code in (0, 2)
        written = sorted(p.name for p in Path(target).iterdir()) if target and \
            Path(target).is_dir() else []
        assert written == (["test.csv", "train.csv", "validation.csv"] if code == 0 else [])
        assert not [p for p in Path(tmp).iterdir() if ".partial-" in p.name]



CONTRACT_FILE = Path(__file__).resolve().parent.parent / "pipeline_src" / "contract.json"


@settings(PROPERTY, max_examples=80)
@given(doc=mutated(json.loads(CONTRACT_FILE.read_text()), max_edits=3))
def test_any_contract_file(doc):
    """Any edit of contract.json either loads (and then its example rows pass its own checks) or
    is one ContractError line naming the file; never another exception."""
    import pandas as pd

    from pipeline_src import contract

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contract.json"
        path.write_text(json.dumps(doc))
        try:
            loaded = contract.load(path)
        except contract.ContractError as exc:
            event("refused")
            assert str(exc).startswith("contract.json: ") and "\n" not in str(exc)
            return
    event("loaded")
    assert [f.name for f in loaded.features] == [f["name"] for f in doc["features"]]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    from pipeline_src import inference
    from pipeline_src.sample_data import generate, split, write_splits
    from tests.pipeline_src.conftest import train_model

    data = tmp_path_factory.mktemp("data")
    write_splits(split(generate(5000, seed=5), seed=5), data)
    return inference.model_fn(str(train_model(data, tmp_path_factory.mktemp("model"))))


@settings(PROPERTY, max_examples=150)
@given(value=st.text(max_size=20) | st.sampled_from(["7", " 19 ", "\t0", "20", "7.0", "-1"]),
       media=st.sampled_from(["text/csv", "application/json"]))
def test_any_text_in_a_categorical_column_is_scored_or_a_400(served_model, value, media):
    """merchant_category is a closed vocabulary ("0".."19"): any text a client sends there is
    scored when it is a declared value (spaces around it ignored) and a one-line 400 otherwise."""
    import csv
    import io

    from pipeline_src import inference
    from pipeline_src.contract import example_rows, feature_names

    row = dict(zip(feature_names(), example_rows(1)[0]), merchant_category=value)
    if media == "text/csv":
        out = io.StringIO()
        csv.writer(out).writerow(row.values())
        body = out.getvalue()
    else:
        body = json.dumps([row])
    status, text, _ = inference.handle(served_model, body, media, "application/json")
    declared = value.strip(" \t") in {str(i) for i in range(20)}
    event(f"{media} {status}")
    if declared:
        assert status == 200, text
    else:
        assert status == 400 and "\n" not in json.loads(text)["error"], text
