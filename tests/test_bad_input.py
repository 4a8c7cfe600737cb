"""The hostile-input table: inputs a new user produces by mistake, for every command.

Each row is (what the user did, command line, environment, files, exit code, start of the one
error line). Every command is run through main.py in this process, as `python main.py ...` would
run it; the contract for each row: the exit code, exactly one line on stderr (no traceback), and
nothing left behind where the command writes its output.

`python tests/test_bad_input.py` prints the table as Markdown (input, exit code, message).
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import main as entry  # noqa: E402
from tests.config_edit import with_setting  # noqa: E402
from tests.silent_server import silent_server  # noqa: E402

DEV = json.loads((ROOT / "config" / "dev.json").read_text())
PROD = json.loads((ROOT / "config" / "prod.json").read_text())
SAMPLE_HEADER = ("amount,hour,day_of_week,merchant_category,distance_from_home,online_transaction,"
                 "previous_failures,account_age_days,credit_limit,current_balance," +
                 ",".join(f"feature_{i}" for i in range(10)) + ",is_fraud")
GOOD_ROW = "12.5,3,2,7,4.2,0,0,400,5000.0,1200.0," + ",".join(["0.1"] * 10) + ",0"
PLAN = json.loads((ROOT / "tests" / "ops" / "fixtures" / "plan_fraud-mlops-dev.json").read_text())


@dataclass
class Case:
    what: str
    argv: list[str]
    code: int
    message: str
    env: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # relative path -> bytes/str/None (folder)/callable
    config: Optional[dict] = None  # {env name: JSON text} replacing config/ for this case
    untouched: tuple = ()  # paths (relative to the temp folder) that must not exist afterwards
    cdktf_json: Optional[str] = None  # replaces the project's cdktf.json for this case
    # A local server that accepts connections and never answers, at {silent} in env values.
    silent_server: bool = False
    max_seconds: Optional[float] = None  # the command must give up within this wall time


def config_files(**docs) -> dict:
    return {name: text if isinstance(text, (str, bytes)) else json.dumps(text)
            for name, text in docs.items()}


OUT = ["--outdir", "{tmp}/out"]
RL = ["run-local", "--workdir", "{tmp}/work"]
SD = ["-m-sample-data", "--out", "{tmp}/data"]

CASES = [
    # ---- main.py ----
    # The one test of main.py's command list (every command, in its order).
    Case("unknown command", ["frobnicate"], 2,
         "unknown command 'frobnicate'; commands: synth, run-local, monitor-local, verdict-local, "
         "teardown, diff, versions, invoke"),
    # ---- synth: command line and context ----
    Case("repeated --env", ["synth", "--env", "dev", "--env", "dev", *OUT], 2,
         "environment 'dev': chosen more than once", untouched=("out",)),
    Case("unknown environment", ["synth", "--env", "qa", *OUT], 2,
         "environment 'qa': no such environment; available: dev, prod", untouched=("out",)),
    Case("environment name with a path", ["synth", "--env", "../config/dev", *OUT], 2,
         "environment '../config/dev': not an environment name; available: dev, prod",
         untouched=("out",)),
    Case("empty --env", ["synth", "--env", "", *OUT], 2,
         "environment '': not an environment name", untouched=("out",)),
    Case("empty --outdir (would write into the project root)", ["synth", "--outdir", ""], 2,
         "--outdir: empty; give a folder"),
    Case("--outdir is a file", ["synth", "--outdir", "{tmp}/file"], 2,
         "--outdir {tmp}/file: is a file, not a folder", files={"file": "x"}),
    Case("--outdir below a file", ["synth", "--outdir", "{tmp}/file/out"], 2,
         "--outdir {tmp}/file/out: {tmp}/file is a file, not a folder", files={"file": "x"}),
    Case("empty CDKTF_OUTDIR", ["synth"], 2, "CDKTF_OUTDIR: empty; give a folder",
         env={"CDKTF_OUTDIR": ""}),
    Case("unknown option", ["synth", "--envs", "dev"], 2,
         "unrecognized arguments: --envs dev (see python main.py synth --help)"),
    Case("unknown MLOPS_CDK_FLAVOUR", ["synth", *OUT], 2,
         "MLOPS_CDK_FLAVOUR='cdktfn': unknown flavour; use one of cdktf, cdktn (unset: cdktf)",
         env={"MLOPS_CDK_FLAVOUR": "cdktfn"}, untouched=("out",)),
    Case("MLOPS_CDK_FLAVOUR not installed here", ["synth", *OUT], 2,
         "MLOPS_CDK_FLAVOUR=cdktn: the cdktn package is not installed in ",
         env={"MLOPS_CDK_FLAVOUR": "cdktn"}, untouched=("out",)),
    Case("CDKTF_CONTEXT_JSON not JSON", ["synth", *OUT], 2,
         "CDKTF_CONTEXT_JSON: not valid JSON: Expecting property name enclosed in double quotes "
         "at line 1 column 2", env={"CDKTF_CONTEXT_JSON": "{environments: dev}"},
         untouched=("out",)),
    Case("CDKTF_CONTEXT_JSON a list", ["synth", *OUT], 2,
         "CDKTF_CONTEXT_JSON: expected a JSON object at the top level, got list",
         env={"CDKTF_CONTEXT_JSON": '["dev"]'}, untouched=("out",)),
    Case("CDKTF_CONTEXT_JSON a string", ["synth", *OUT], 2,
         "CDKTF_CONTEXT_JSON: expected a JSON object at the top level, got str",
         env={"CDKTF_CONTEXT_JSON": '"dev"'}, untouched=("out",)),
    Case("CDKTF_CONTEXT_JSON with a repeated key", ["synth", *OUT], 2,
         "CDKTF_CONTEXT_JSON: not valid configuration JSON: setting 'environments' appears twice",
         env={"CDKTF_CONTEXT_JSON": '{"environments": "dev", "environments": "prod"}'},
         untouched=("out",)),
    Case("context environments empty", ["synth", "-c", "environments=", *OUT], 2,
         "context environments: empty; name at least one environment, e.g. dev,prod",
         untouched=("out",)),
    Case("context environments a number", ["synth", "-c", "environments=3", *OUT], 2,
         "context environments: expected a list of names or 'dev,prod'", untouched=("out",)),
    Case("-c without =", ["synth", "-c", "environments", *OUT], 2,
         "-c 'environments': expected key=value", untouched=("out",)),
    Case("overrides not an object", ["synth", "-c", "overrides=[]", *OUT], 2,
         "context overrides: expected an object {environment: {setting: value}}",
         untouched=("out",)),
    Case("overrides for an unknown environment", ["synth", "-c", 'overrides={"qa": {}}', *OUT],
         2, "context overrides.qa: no such environment; available: dev, prod",
         untouched=("out",)),
    Case("override with a string for a number",
         ["synth", "-c", 'overrides={"dev": {"stages": [{"name": "prod", "instance_count": "2"}]}}', *OUT], 2,
         'config/dev.json.stages[1].instance_count: expected an integer, got "2"',
         untouched=("out",)),
    Case("override with a misspelt setting",
         ["synth", "-c", 'overrides={"dev": {"stages": [{"name": "prod", "instance_cnt": 2}]}}', *OUT], 2,
         "config/dev.json.stages[1].instance_cnt: unknown setting; allowed: instance_type, "
         "instance_count, deployment", untouched=("out",)),
    Case("cdktf.json is not JSON", ["synth", *OUT], 2,
         "cdktf.json: not valid JSON: Expecting value at line 1 column 1", cdktf_json="app: x",
         untouched=("out",)),
    Case("cdktf.json is a list", ["synth", *OUT], 2,
         "cdktf.json: expected a JSON object at the top level, got list", cdktf_json="[]",
         untouched=("out",)),
    Case("cdktf.json context is a string", ["synth", *OUT], 2,
         "cdktf.json.context: expected an object, got str",
         cdktf_json='{"app": "x", "context": "dev"}', untouched=("out",)),
    # ---- synth: configuration files ----
    Case("config not UTF-8", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: not UTF-8 text (byte 0xe9 at offset 16)",
         config=config_files(dev=b'{"project": "caf\xe9"}'), untouched=("out",)),
    Case("config is a folder", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: is a folder; expected a JSON file", config={"dev": None},
         untouched=("out",)),
    Case("config is a symlink loop", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: cannot be read: Too many levels of symbolic links",
         config={"dev": "@loop"}, untouched=("out",)),
    Case("config absurdly nested", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: nested too deeply (more than 32 levels)",
         config=config_files(dev="[" * 50000 + "]" * 50000), untouched=("out",)),
    Case("config is a JSON list", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: expected a JSON object at the top level, got list",
         config=config_files(dev="[]"), untouched=("out",)),
    Case("config is empty", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: not valid JSON: Expecting value at line 1 column 1",
         config=config_files(dev=""), untouched=("out",)),
    Case("config with a trailing comma", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json: not valid JSON: Expecting property name enclosed in double quotes at "
         "line 1 column 28", config=config_files(dev='{"project": "fraud-mlops", }'),
         untouched=("out",)),
    Case("config with NaN", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.quality_gate.min_f1: NaN is not a JSON number",
         config=config_files(dev='{"quality_gate": {"min_f1": NaN}}'), untouched=("out",)),
    Case("NaN as a gate threshold", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.quality_gate.min_pr_auc: NaN is not a JSON number; give a number",
         config=config_files(dev=json.dumps(DEV).replace('"min_pr_auc": 0.5',
                                                         '"min_pr_auc": NaN')),
         untouched=("out",)),
    Case("Infinity in a list", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.tags.x.0: -Infinity is not a JSON number",
         config=config_files(dev='{"tags": {"x": [-Infinity]}}'), untouched=("out",)),
    Case("a region with no SageMaker scikit-learn image", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.region: 'eu-nowhere-9' has no SageMaker scikit-learn 1.4-2-py312 image; "
         "regions that have it: af-south-1, ap-east-1, ",
         config=config_files(dev=with_setting(DEV, "region", "eu-nowhere-9")),
         untouched=("out",)),
    Case("config missing the region", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.region: required setting is missing",
         config=config_files(dev={"project": "fraud-mlops"}), untouched=("out",)),
    Case("prod.json copied to a new environment (shared state)",
         ["synth", "--env", "prod", *OUT], 2,
         "config/qa.json.state_backend: bucket 'fraud-mlops-terraform-state' key "
         "'fraud-mlops/prod/terraform.tfstate' is also the state of environment 'prod'; each "
         "environment needs its own key", config=config_files(dev=DEV, prod=PROD, qa=PROD),
         untouched=("out",)),
    Case("canary_percent the deploy step refuses beside all_at_once",
         ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.stages[0].deployment.canary_percent: 0 is outside the allowed range 1..50",
         config=config_files(dev=with_setting(DEV, "stages.0.deployment.canary_percent", 0)),
         untouched=("out",)),
    Case("true for a number", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.alarms.evaluation_periods: expected an integer, got true",
         config=config_files(dev=with_setting(DEV, "alarms.evaluation_periods", True)),
         untouched=("out",)),
    Case("prod accepting unapproved models", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.stages[1].accept_pending_approval: a stage at or after a manual approval "
         "deploys Approved model packages only; allowed: false",
         config=config_files(dev=with_setting(DEV, "stages.1.accept_pending_approval", True)),
         untouched=("out",)),
    Case("a stage in another account without the tooling account", ["synth", "--env", "dev",
                                                                     *OUT], 2,
         "config/dev.json.stages[1].account_id: '333333333333' is another account, so the "
         "environment's account_id (the tooling account the pipeline runs in) must be set",
         config=config_files(dev=with_setting(DEV, "stages.1.account_id", "333333333333")),
         untouched=("out",)),
    Case("a provisioning role that is not a role name", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.provisioning_role: 'arn:aws:iam::1:role/x' is not an IAM role name",
         config=config_files(dev=with_setting(DEV, "provisioning_role",
                                              "arn:aws:iam::1:role/x")),
         untouched=("out",)),
    Case("a GitHub repository given as a URL, not owner/name", ["synth", "--env", "prod", *OUT],
         2, "config/prod.json.source.repository: 'https://github.com/example-org/fraud-mlops' is "
         "not a GitHub repository id; expected owner/name, e.g. my-org/fraud-mlops",
         config=config_files(prod=with_setting(PROD, "source.repository",
                                               "https://github.com/example-org/fraud-mlops")),
         untouched=("out",)),
    Case("a connection named by its name, not its ARN", ["synth", "--env", "prod", *OUT], 2,
         "config/prod.json.source.connection_arn: 'arn:aws:codestar-connections:eu-west-1:"
         "111111111111:connection/fraud-github' is not a connection ARN; expected arn:aws:"
         "codeconnections:<region>:<account>:connection/<uuid>",
         config=config_files(prod=with_setting(
             PROD, "source.connection_arn",
             "arn:aws:codestar-connections:eu-west-1:111111111111:connection/fraud-github")),
         untouched=("out",)),
    Case("name in the file differs from the file name", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.name: 'prod' must match the file name 'dev'",
         config=config_files(dev=with_setting(DEV, "name", "prod")), untouched=("out",)),
    Case("a project name that overflows AWS name limits", ["synth", "--env", "dev", *OUT], 2,
         "config/dev.json.project: 'a-project-name-that-is-far-too-long' must be 1-16 lowercase",
         config=config_files(
             dev=with_setting(DEV, "project", "a-project-name-that-is-far-too-long")),
         untouched=("out",)),
    # ---- run-local ----
    Case("--data '' (an unset variable in CI)", [*RL, "--data", ""], 2,
         "--data: empty; give a CSV file, or leave --data out to use the sample data",
         files={"work/evaluation.json": '{"passed": true}'},
         untouched=("work/evaluation.json",)),
    Case("--data is a folder", [*RL, "--data", "{tmp}"], 2,
         "{name}: is a folder; expected a CSV file", untouched=("work/evaluation.json",)),
    Case("--data does not exist", [*RL, "--data", "{tmp}/nope.csv"], 2,
         "nope.csv: no such file", untouched=("work/evaluation.json",)),
    Case("--data is empty", [*RL, "--data", "{tmp}/e.csv"], 2,
         "e.csv: empty file (expected a header and data rows)", files={"e.csv": ""},
         untouched=("work/evaluation.json",)),
    Case("--data not UTF-8", [*RL, "--data", "{tmp}/l1.csv"], 2,
         "l1.csv: not a readable CSV file", files={"l1.csv": b"amount\xff\n1\n"},
         untouched=("work/evaluation.json",)),
    Case("--data .csv.gz that is not gzip-compressed", [*RL, "--data", "{tmp}/t.csv.gz"], 2,
         "t.csv.gz: not a readable gzip-compressed CSV file: Not a gzipped file",
         files={"t.csv.gz": SAMPLE_HEADER + "\n" + GOOD_ROW + "\n"},
         untouched=("work/evaluation.json", "work/data")),
    Case("--data .csv.gz cut short", [*RL, "--data", "{tmp}/t.csv.gz"], 2,
         "t.csv.gz: not a readable gzip-compressed CSV file: Compressed file ended before",
         files={"t.csv.gz": gzip.compress(
             (SAMPLE_HEADER + "\n" + (GOOD_ROW + "\n") * 200).encode(), mtime=0)[:-10]},
         untouched=("work/evaluation.json", "work/data")),
    Case("--data .csv.gz with a renamed column (read, then checked)",
         [*RL, "--data", "{tmp}/t.csv.gz"], 2,
         "t.csv.gz: missing column(s): hour; unexpected column(s): hr (renamed upstream?)",
         files={"t.csv.gz": gzip.compress(
             (SAMPLE_HEADER.replace("hour", "hr") + "\n" + GOOD_ROW + "\n").encode(), mtime=0)},
         untouched=("work/evaluation.json", "work/data")),
    Case("--data with a repeated header", [*RL, "--data", "{tmp}/dup.csv"], 2,
         "dup.csv: duplicated column(s): amount",
         files={"dup.csv": SAMPLE_HEADER + ",amount\n" + GOOD_ROW + ",1\n"},
         untouched=("work/evaluation.json",)),
    Case("--data with a renamed column", [*RL, "--data", "{tmp}/ren.csv"], 2,
         "ren.csv: missing column(s): hour; unexpected column(s): hr (renamed upstream?)",
         files={"ren.csv": SAMPLE_HEADER.replace("hour", "hr") + "\n" + GOOD_ROW + "\n"},
         untouched=("work/evaluation.json",)),
    Case("--data with too few frauds to split", [*RL, "--data", "{tmp}/few.csv"], 2,
         "few.csv: 1 fraud and 20 legitimate rows; a 60/20/20 split with both classes in every "
         "part needs at least 5 of each",
         files={"few.csv": SAMPLE_HEADER + "\n" + (GOOD_ROW + "\n") * 20 + GOOD_ROW[:-1] + "1\n"},
         untouched=("work/evaluation.json", "work/data")),
    Case("--data with --rows", [*RL, "--data", "{tmp}/x.csv", "--rows", "1000"], 2,
         "--rows sets the size of the sample data; it cannot be used with --data"),
    Case("--rows -5", [*RL, "--rows", "-5"], 2,
         "argument --rows: -5 is outside the allowed range 100..5000000"),
    Case("--rows not a number", [*RL, "--rows", "lots"], 2,
         "argument --rows: 'lots' is not an integer"),
    Case("--rows too few for a fraud in every split", [*RL, "--rows", "100"], 2,
         "sample data: column is_fraud: only class 0 present; expected both classes 0 and 1",
         untouched=("work/evaluation.json",)),
    Case("--seed negative", [*RL, "--seed", "-1"], 2,
         "argument --seed: -1 is outside the allowed range 0..4294967295"),
    Case("--workdir is a file", ["run-local", "--workdir", "{tmp}/file"], 2,
         "--workdir {tmp}/file: is a file, not a folder", files={"file": "x"}),
    Case("--workdir empty", ["run-local", "--workdir", ""], 2, "--workdir: empty; give a folder"),
    Case("--workdir where nothing can be written", ["run-local", "--workdir", "/proc/mlops"], 2,
         "--workdir /proc/mlops: cannot write there"),
    Case("--env unknown", [*RL, "--env", "qa"], 2,
         "environment 'qa': no such environment; available: dev, prod",
         files={"work/evaluation.json": '{"passed": true}'},
         untouched=("work/evaluation.json",)),
    # ---- sample_data ----
    Case("--out missing", ["-m-sample-data"], 2,
         "the following arguments are required: --out"),
    Case("--out empty", ["-m-sample-data", "--out", ""], 2, "--out: empty; give a folder"),
    Case("--out is a file", ["-m-sample-data", "--out", "{tmp}/file"], 2,
         "--out {tmp}/file: is a file, not a folder", files={"file": "x"}),
    Case("--out in a read-only file system", ["-m-sample-data", "--out", "/sys/mlops"], 2,
         "--out /sys/mlops: cannot write there"),
    Case("--rows -5", [*SD, "--rows", "-5"], 2,
         "argument --rows: -5 is outside the allowed range 100..5000000", untouched=("data",)),
    Case("--rows 500: no fraud in some split", [*SD, "--rows", "500"], 2,
         "500 sample rows: 1 fraud and 499 legitimate rows", untouched=("data",)),
    Case("--seed too large", [*SD, "--seed", str(2**32)], 2,
         "argument --seed: 4294967296 is outside the allowed range 0..4294967295",
         untouched=("data",)),
    # ---- diff ----
    Case("nothing to compare", ["diff"], 2, "nothing to review: give --base REF|DIR"),
    Case("plan of an unknown format version", ["diff", "--plan", "{tmp}/p.json"], 2,
         '{tmp}/p.json: format_version "2.0" is not supported',
         files={"p.json": json.dumps({**PLAN, "format_version": "2.0"})}),
    Case("plan with a list for change", ["diff", "--plan", "{tmp}/p.json"], 2,
         "{tmp}/p.json: resource_changes.0.change: expected an object, got []",
         files={"p.json": json.dumps({**PLAN, "resource_changes": [
             {**PLAN["resource_changes"][0], "change": []}]})}),
    Case("plan not JSON", ["diff", "--plan", "{tmp}/p.json"], 2,
         "{tmp}/p.json is not valid JSON", files={"p.json": "Plan: 3 to add"}),
    Case("plan is the binary plan file", ["diff", "--plan", "{tmp}/plan.out"], 2,
         "cannot read plan file {tmp}/plan.out: UnicodeDecodeError",
         files={"plan.out": b"PK\x03\x04\x14\x00\xff\xfe"}),
    Case("plan is a folder", ["diff", "--plan", "{tmp}"], 2, "plan file {tmp} is a folder"),
    Case("manifest not an object", ["diff", "--base", "{tmp}/o", "--head", "{tmp}/o"], 2,
         "manifest.json: expected a JSON object, got list", files={"o/manifest.json": "[]"}),
    Case("stack JSON malformed", ["diff", "--base", "{tmp}/o", "--head", "{tmp}/o"], 2,
         "cdk.tf.json is not valid JSON (Expecting property name enclosed in double quotes",
         files={"o/stacks/s/cdk.tf.json": "{"}),
    Case("unknown git ref", ["diff", "--base", "no-such-ref-xyz"], 2,
         "unknown git ref 'no-such-ref-xyz'"),
    Case("-o is a folder", ["diff", "--plan", "{tmp}/p.json", "-o", "{tmp}"], 2,
         "-o {tmp}: is a folder; give a file name", files={"p.json": json.dumps(PLAN)}),
    Case("--max-chars negative", ["diff", "--plan", "{tmp}/p.json", "--max-chars", "-1"], 2,
         "--max-chars -1: at least 1000", files={"p.json": json.dumps(PLAN)}),
    # ---- teardown ----
    # ---- monitor-local: command line ----
    Case("monitor-local without its folders", ["monitor-local"], 2,
         "the following arguments are required: --capture, --reference "
         "(see python main.py monitor-local --help)"),
    Case("monitor-local unknown option", ["monitor-local", "--capture", "{tmp}", "--reference",
                                          "{tmp}/r.csv", "--window", "1"], 2,
         "unrecognized arguments: --window 1 (see python main.py monitor-local --help)"),
    # ---- verdict-local ----
    Case("verdict-local without its inputs", ["verdict-local"], 2,
         "the following arguments are required: --capture, --labels, --start "
         "(see python main.py verdict-local --help)"),
    Case("verdict-local start not a time", ["verdict-local", "--capture", "{tmp}", "--labels",
                                            "{tmp}/l.csv", "--start", "yesterday"], 2,
         "--start 'yesterday': not a time; expected ISO 8601, e.g. 2026-11-01T00:00:00Z"),
    Case("verdict-local live share not a share", ["verdict-local", "--capture", "{tmp}",
                                                  "--labels", "{tmp}/l.csv", "--start",
                                                  "2026-11-01T00:00:00Z", "--live-share", "1"],
         2, "--live-share '1': not a share between 0 and 1, e.g. 0.1"),
    Case("verdict-local no challenger folder", ["verdict-local", "--capture", "{tmp}/e",
                                                "--labels", "{tmp}/l.csv", "--start",
                                                "2026-11-01T00:00:00Z"], 2,
         "--champion 'AllTraffic': no capture files under {tmp}/e/AllTraffic (variant folders "
         "there: Challenger)", files={"e/Challenger/x.jsonl": "{}"}),
    Case("no --env", ["teardown"], 2, "the following arguments are required: --env"),
    Case("unknown environment", ["teardown", "--env", "qa"], 2,
         "environment 'qa': no such environment; available: dev, prod"),
    Case("bad --region", ["teardown", "--env", "dev", "--region", "ireland"], 2,
         "--region 'ireland': not an AWS region name, e.g. eu-west-1",
         env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}),
    Case("unknown AWS_PROFILE", ["teardown", "--env", "dev"], 2,
         "AWS profile 'nobody' not found (AWS_PROFILE)",
         env={"AWS_PROFILE": "nobody", "AWS_CONFIG_FILE": "{tmp}/none",
              "AWS_SHARED_CREDENTIALS_FILE": "{tmp}/none"}),
    Case("endpoint URL that is not a URL", ["teardown", "--env", "dev"], 2,
         "cannot set up a SageMaker client for eu-west-1: Invalid endpoint: no url",
         env={"AWS_ENDPOINT_URL_SAGEMAKER": "no url", "AWS_ACCESS_KEY_ID": "x",
              "AWS_SECRET_ACCESS_KEY": "x"}),
    Case("unreachable endpoint", ["teardown", "--env", "dev"], 1,
         "sagemaker:ListEndpoints failed: Could not connect to the endpoint URL",
         env={"AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
              "AWS_SECRET_ACCESS_KEY": "x"}),
    Case("endpoint that accepts the connection and never answers", ["teardown", "--env", "dev"],
         1, "sagemaker:ListEndpoints failed: Read timeout on endpoint URL",
         env={"AWS_ENDPOINT_URL_SAGEMAKER": "{silent}", "AWS_ACCESS_KEY_ID": "x",
              "AWS_SECRET_ACCESS_KEY": "x"}, silent_server=True, max_seconds=30),
]


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{name}", tmp.name)


def _prepare(case: Case, tmp: Path, monkeypatch) -> None:
    for rel, content in case.files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.config is not None:
        from infra import config as config_module

        folder = tmp / "config"
        folder.mkdir()
        for name, content in case.config.items():
            path = folder / f"{name}.json"
            if content is None:
                path.mkdir()
            elif content == "@loop":
                path.symlink_to(path)
            else:
                path.write_bytes(content if isinstance(content, bytes) else content.encode())
        monkeypatch.setattr(config_module, "CONFIG_DIR", folder)
    if case.cdktf_json is not None:
        from infra import app

        (tmp / "project").mkdir()
        (tmp / "project" / "cdktf.json").write_text(case.cdktf_json)
        monkeypatch.setattr(app, "PROJECT_ROOT", tmp / "project")
    for key in ("CDKTF_CONTEXT_JSON", "CDKTF_OUTDIR", "AWS_PROFILE", "MLOPS_CDK_FLAVOUR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key, value in case.env.items():
        monkeypatch.setenv(key, _fill(value, tmp))


def run_command(argv: list[str]) -> tuple[int, str, str]:
    """main.py's dispatch in this process; sample_data is its own module (-m)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if argv and argv[0] == "-m-sample-data":
                from pipeline_src import sample_data

                code = sample_data.main(argv[1:])
            else:
                code = entry.main(argv)
        except SystemExit as exc:  # argparse --help only
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check_contract(code: int, err: str) -> None:
    """What every command promises for any input."""
    assert code in (0, 1, 2, 3), code
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 1, err


@pytest.mark.parametrize("case", CASES, ids=[f"{c.argv[0]}: {c.what}" for c in CASES])
def test_hostile_input(case: Case, tmp_path, monkeypatch):
    _prepare(case, tmp_path, monkeypatch)
    with contextlib.ExitStack() as stack:
        if case.silent_server:
            url = stack.enter_context(silent_server()).url
            for key, value in case.env.items():
                monkeypatch.setenv(key, _fill(value, tmp_path).replace("{silent}", url))
        started = time.monotonic()
        code, _, err = run_command([_fill(a, tmp_path) for a in case.argv])
        elapsed = time.monotonic() - started
    if case.max_seconds is not None:
        assert elapsed < case.max_seconds, f"gave up after {elapsed:.1f} s"
    check_contract(code, err)
    assert code == case.code, err
    assert err.startswith("error: " + _fill(case.message, tmp_path)), err
    assert err.count("\n") == 1
    for rel in case.untouched:
        assert not (tmp_path / rel).exists(), f"{rel} left behind"


def markdown_table() -> str:
    lines = ["| command | input | exit | message |", "|---|---|---|---|"]
    for case in CASES:
        command = {"-m-sample-data": "sample_data"}.get(
            case.argv[0], case.argv[0] if case.argv[0] in entry.COMMANDS else "main.py")
        message = case.message.replace("|", "\\|")
        lines.append(f"| {command} | {case.what} | {case.code} | `error: {message}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
    print(f"\n{len(CASES)} cases")
