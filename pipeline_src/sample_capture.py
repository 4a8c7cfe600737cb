"""Write sample endpoint data capture, to try the monitor without an endpoint.

    python -m pipeline_src.sample_capture --out DIR [--rows N] [--seed S] [--shift FEATURE=FACTOR]
        [--endpoint NAME] [--start 2026-11-22T05] [--hours H] [--max-batch B] [--model DIR]

Traffic is the reference generator's (pipeline_src/sample_data.py, seed S), optionally with
features multiplied (``--shift amount=1.5``, clipped to the contract's range). Each request, a
text/csv or application/json body of 1..B rows with an InferenceId, goes through the real
serving handlers (model_fn, input_fn, predict_fn, output_fn), and its input and output are written
as SageMaker's data capture writes them (pipeline_src/capture.py):

    DIR/<endpoint>/AllTraffic/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl

Beside that tree: DIR/reference.csv (the model's training data), DIR/labels.csv (the delayed
ground truth: inference_id,row,is_fraud) and DIR/model/ (the model that answered; trained on
the reference sample unless --model is given). Exit 2 on bad input.
"""
from __future__ import annotations

import json
import shutil
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aws_clients
from pipeline_src import capture
from pipeline_src.contract import ContractError, feature_names, features, label_name

REFERENCE_ROWS = 50_000
REFERENCE_SEED = 42


class InputError(ValueError):
    pass


def parse_shift(items) -> dict[str, float]:
    shifts = {}
    for item in items or []:
        feature, sep, factor = item.partition("=")
        numeric = [f.name for f in features() if not f.categorical]
        if not sep or feature not in numeric:
            raise InputError(f"--shift {item!r}: expected FEATURE=FACTOR with FEATURE one of "
                             f"the numeric columns {', '.join(numeric)}")
        try:
            value = float(factor)
        except ValueError:
            raise InputError(f"--shift {item!r}: factor {factor!r} is not a number") from None
        if not value > 0 or value != value or value == float("inf"):
            raise InputError(f"--shift {item!r}: factor must be a positive finite number")
        shifts[feature] = value
    return shifts


def apply_shift(df, shifts: dict[str, float]):
    import numpy as np

    df = df.copy()
    for f in features():
        if f.name in shifts:
            values = np.clip(df[f.name].to_numpy(dtype=float) * shifts[f.name], f.min, f.max)
            df[f.name] = np.round(values).astype("int64") if f.dtype == "int" else values
    return df


def reference_model(out: Path, model_dir):
    """(reference frame, loaded model): train the project's model on the reference sample."""
    from pipeline_src.inference import model_fn
    from pipeline_src.model_io import save_model
    from pipeline_src.sample_data import generate, split
    from pipeline_src.train import parse_args, train

    splits = split(generate(REFERENCE_ROWS, REFERENCE_SEED), REFERENCE_SEED)
    reference = splits["train"]
    target = out / "model"
    if model_dir is None:
        args = parse_args(["--train", ".", "--validation", ".", "--model-dir", str(target),
                           "--output-data-dir", str(target)])
        estimator, metadata = train(reference, splits["validation"], args)
        save_model(target, estimator, metadata)
    elif Path(model_dir).resolve() != target.resolve():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(model_dir, target)
    return reference, model_fn(str(target))


def _value(v):
    """A cell as a client would send it: categorical text as is, whole numbers as integers."""
    if isinstance(v, str):
        return v
    return int(v) if float(v).is_integer() else float(v)


def _body(rows, content_type: str) -> str:
    from pipeline_src.contract import csv_text

    rows = [[_value(v) for v in row] for row in rows]
    if content_type == "text/csv":
        return csv_text(rows)
    names = feature_names()
    return json.dumps([dict(zip(names, row)) for row in rows])


def default_variant() -> str:
    """The variant the deploy step creates when a stage names none (its settings contract,
    lambda_deploy/settings.py; imported here, never by the jobs, whose zip does not carry it)."""
    from lambda_deploy.settings import DEFAULT_VARIANT

    return DEFAULT_VARIANT


def write_capture(out: Path, traffic, model, *, endpoint: str, start: datetime, hours: int,
                  max_batch: int, seed: int, variant: str | None = None) -> tuple[int, int]:
    """Send the traffic through the handlers; write capture files (under the variant's folder,
    as the endpoint does) and labels.csv."""
    variant = variant or default_variant()
    import numpy as np

    from pipeline_src.inference import input_fn, output_fn, predict_fn

    rng = np.random.default_rng(seed)
    from pipeline_src.contract import load

    contract = load()
    X = traffic[feature_names()].to_numpy(dtype=object)
    y = [contract.positive if v else contract.negative for v in traffic[label_name()].to_numpy()]
    sizes = []
    remaining = len(X)
    while remaining:
        sizes.append(min(remaining, int(rng.integers(1, max_batch + 1))))
        remaining -= sizes[-1]
    span = timedelta(hours=hours).total_seconds()
    files: dict = {}
    labels = ["inference_id,row,is_fraud"]
    first = 0
    for n, size in enumerate(sizes):
        when = start + timedelta(seconds=span * n / len(sizes))
        content_type = "text/csv" if n % 3 else "application/json"
        body = _body(X[first:first + size], content_type)
        output, _ = output_fn(predict_fn(input_fn(body, content_type), model), "application/json")
        inference_id = f"req-{seed}-{n:07d}"
        event_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        # One file per 5 minutes, as a steady endpoint rolls them.
        slot = when.replace(minute=when.minute - when.minute % 5, second=0, microsecond=0)
        if slot not in files:
            files[slot] = (capture.relative_path(endpoint, variant, slot, str(uuid.UUID(
                bytes=rng.bytes(16), version=4))), [])
        files[slot][1].append(capture.record_line(body, content_type, output, when, event_id,
                                                  inference_id))
        labels.extend(f"{inference_id},{r + 1},{y[first + r]}" for r in range(size))
        first += size
    for relative, lines in files.values():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "labels.csv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return len(sizes), len(files)


def parse_start(text):
    if text is None:
        now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        return now - timedelta(hours=1)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--start {text!r} is not an ISO date/time, e.g. 2026-11-22T05:00")
    return value.replace(tzinfo=value.tzinfo or timezone.utc)


def main(argv=None) -> int:
    from pipeline_src.cli import Parser, UsageError, print_error

    parser = Parser(prog="python -m pipeline_src.sample_capture",
                    description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shift", action="append", metavar="FEATURE=FACTOR")
    parser.add_argument("--endpoint", default="sample-endpoint")
    parser.add_argument("--start", help="first capture hour (UTC, ISO); default: the last hour")
    parser.add_argument("--hours", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=4, help="rows per request: 1..B")
    parser.add_argument("--model", type=Path, help="a model folder (model.joblib, metadata.json)")
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print_error(exc)
        return 2
    try:
        from pipeline_src.contract import validate_frame
        from pipeline_src.model_io import ModelLoadError
        from pipeline_src.sample_data import generate

        if not 1 <= args.rows <= 5_000_000:
            raise InputError(f"--rows {args.rows}: expected 1..5000000")
        if not 1 <= args.hours <= 168:
            raise InputError(f"--hours {args.hours}: expected 1..168")
        if not 1 <= args.max_batch <= 1000:
            raise InputError(f"--max-batch {args.max_batch}: expected 1..1000")
        if not aws_clients.is_sagemaker_name(args.endpoint):
            raise InputError(f"--endpoint {args.endpoint!r} is not a SageMaker endpoint name")
        if args.model is not None and not args.model.is_dir():
            raise InputError(f"--model {args.model}: no such folder")
        shifts = parse_shift(args.shift)
        start = parse_start(args.start)
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            reference, model = reference_model(args.out, args.model)
        except ModelLoadError as exc:
            raise InputError(str(exc)) from None
        reference.to_csv(args.out / "reference.csv", index=False)
        traffic = validate_frame(apply_shift(generate(args.rows, args.seed), shifts),
                                 source="sample traffic")
    except (InputError, ContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    requests, files = write_capture(args.out, traffic, model, endpoint=args.endpoint,
                                    start=start, hours=args.hours, max_batch=args.max_batch,
                                    seed=args.seed)
    shifted = ", ".join(f"{k}x{v:g}" for k, v in shifts.items()) or "none"
    print(f"wrote {requests} requests ({args.rows} rows, shift: {shifted}) in {files} capture "
          f"file(s) under {args.out / args.endpoint}")
    print(f"reference: {args.out / 'reference.csv'}; labels: {args.out / 'labels.csv'}; "
          f"model: {args.out / 'model'}")
    print(f"try: python main.py monitor-local --capture {args.out / args.endpoint} --reference "
          f"{args.out / 'reference.csv'} --labels {args.out / 'labels.csv'} --model "
          f"{args.out / 'model'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
