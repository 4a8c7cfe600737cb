"""Monitor job (CodeBuild, on a schedule or on demand): drift and quality of captured traffic.

    python -m pipeline_src.jobs.monitor [--endpoint NAME] [--window-end 2026-11-22T06]
                                        [--output-dir DIR]

For each endpoint (MONITOR_ENDPOINTS, or --endpoint) in each region it serves from (the job's
region, then MONITOR_REGIONS' secondary regions): endpoint -> endpoint config -> model ->
model package (a secondary region's model is a copy of the package's container: its config's
package tag names the package) -> the exact training data it was trained on (the S3 object
version the train job recorded in the package's metadata) and the model artifact; the window's
data capture in that region (the last MONITOR_WINDOW_HOURS whole hours before --window-end,
default now); labels under GROUND_TRUTH_S3_URI/<endpoint>/yyyy/mm/dd/ for the window's days
(matched to that region's traffic by inference ID). Publishes CloudWatch metrics
(METRIC_NAMESPACE, dimensions EndpointName and Region) and writes report.html and summary.json
to MONITORING_OUTPUT_S3_URI/<endpoint>/<window>/ (a secondary region's to
<endpoint>/<region>/<window>/). An endpoint that does not exist in a region is skipped there.
Exit 0 when every endpoint was analysed (drift is the alarms' business), 1 on an error.

Champion vs challenger: for an endpoint with an experiment rule (MONITOR_EXPERIMENTS), every
experiment the deploy function started and the controller has not decided yet
(EXPERIMENTS_S3_URI/<endpoint>/<id>/, lambda_deploy/experiment.py) gets its verdict
(pipeline_src/verdict.py) from both variants' capture since the experiment started and the labels
of those days, taken at --window-end, written to verdict.json beside its state, where the
controller reads it. An experiment in its live phase (the controller recorded the challenger's
live share: 6-live, not yet 7-live-decided) gets the unpaired live verdict instead, from both
variants' capture since the share took effect (each record counted for the variant whose folder
holds it, the one that served it), written to live-verdict.json. The same inputs give the same
bytes: re-running the job changes nothing.

An endpoint in another account (MONITOR_READERS: {endpoint: reader role ARN}) is read as that
account's monitor reader role (AssumeRole with MONITOR_EXTERNAL_ID, once per endpoint; IAM roles
are global, so the same session reads every region): its endpoint, config (and in a secondary
region the config's tags), model and data capture only. The registry, training data, labels, reports and metrics are the job's own
account's, read and written with its own credentials.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import aws_clients
from pipeline_src.jobs import common
from pipeline_src.jobs.common import JobError, SettingsError, aws_call, join_s3
from pipeline_src.jobs.monitor_settings import MonitorJobSettings

# The train job records the S3 object version of each split under these package properties.
DATA_VERSION_PROPERTY = "data_version_{split}"
REFERENCE_SPLIT = "train"
# The deploy step's tag naming the package an endpoint config serves (lambda_deploy/deploy.py
# TAG_PACKAGE_ARN; the job's zip has no lambda_deploy: tests/test_seams.py checks they agree).
TAG_PACKAGE_ARN = "mlops:model-package-arn"
# The metric dimension naming the region an endpoint's traffic was captured in.
REGION_DIMENSION = "Region"


def endpoint_regions(session, settings: MonitorJobSettings, endpoint: str) -> list[str]:
    """The regions an endpoint serves from: the job's (the primary: the registry's), then its
    secondary regions."""
    return [session.region_name, *settings.regions.get(endpoint, ())]


def reader_session(session, settings: MonitorJobSettings, endpoint: str):
    """The session the endpoint's chain and capture are read with: the job's own, or, for an
    endpoint in another account, its reader role's there (one AssumeRole for every region)."""
    role_arn = settings.readers.get(endpoint)
    if role_arn is None:
        return None
    name = common.session_name("monitor", settings.run_id or "local")
    return common.assumed_session(session, role_arn, settings.external_id, name)


def endpoint_clients(session, assumed, region: str):
    """(sagemaker, s3) clients for the endpoint's chain and capture in `region`: the job's own
    (assumed None), or its reader role's."""
    if assumed is None:
        return [aws_clients.client(s, session, region=region) for s in ("sagemaker", "s3")]
    return reader_clients(assumed, region)


def reader_clients(assumed, region: str) -> list:
    """Clients acting as a stage account's monitor reader role in `region`
    (tests/iam/declarations.py CLIENT_FACTORIES names this factory)."""
    return [aws_clients.client(s, assumed, region=region) for s in ("sagemaker", "s3")]


def serving_chain(sm, endpoint: str, group: str, registry=None):
    """(endpoint config, variant, capture destination URI, model package) now serving, or None
    when the endpoint does not exist. sm acts where the endpoint is; registry (default: sm) where
    the model package group is."""
    from botocore.exceptions import ClientError

    registry = registry or sm
    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if exc.response.get("Error", {}).get("Code") == "ValidationException" \
                and "not find" in message.lower():
            return None
        raise JobError(aws_clients.describe("sagemaker:DescribeEndpoint", exc)) from None
    config_name = described["EndpointConfigName"]
    config = aws_call(sm, "DescribeEndpointConfig", EndpointConfigName=config_name)
    capture = config.get("DataCaptureConfig") or {}
    if not capture.get("DestinationS3Uri"):
        raise JobError(f"{endpoint}: endpoint config {config_name} has no data capture; set "
                       "data_capture_percent for its stage")
    variant = config["ProductionVariants"][0]
    model = aws_call(sm, "DescribeModel", ModelName=variant["ModelName"])
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    package_arn = containers[0].get("ModelPackageName")
    if not package_arn:
        # A secondary region's model is the package's container with a copy of its artifact
        # (lambda_deploy/regions.py): the config's tag names the package.
        tags = aws_call(sm, "ListTags", ResourceArn=config["EndpointConfigArn"]).get("Tags", [])
        package_arn = next((t["Value"] for t in tags if t["Key"] == TAG_PACKAGE_ARN), None)
    if not package_arn:
        raise JobError(f"{endpoint}: model {variant['ModelName']} was not created from a model "
                       f"package and its config has no {TAG_PACKAGE_ARN} tag; cannot find its "
                       "training data")
    package = aws_call(registry, "DescribeModelPackage", ModelPackageName=package_arn)
    if package.get("ModelPackageGroupName") != group:
        raise JobError(f"{endpoint}: model package {package_arn} is not in group {group}")
    return config_name, variant["VariantName"], capture["DestinationS3Uri"], package


def reference_data(s3, package: dict, data_uri: str, workdir: Path):
    """The exact train.csv the package was trained on (its recorded S3 object version)."""
    from pipeline_src.monitoring import read_reference

    prop = DATA_VERSION_PROPERTY.format(split=REFERENCE_SPLIT)
    version = (package.get("CustomerMetadataProperties") or {}).get(prop)
    if not version:
        raise JobError(f"model package {package['ModelPackageArn']} has no {prop} metadata "
                       "(trained before the train job recorded data versions); retrain it")
    bucket, key = common.split_s3_uri(join_s3(data_uri, f"{REFERENCE_SPLIT}.csv"))
    body = aws_call(s3, "GetObject", Bucket=bucket, Key=key, VersionId=version)["Body"].read()
    path = workdir / "reference.csv"
    path.write_bytes(body)
    return read_reference(path), f"s3://{bucket}/{key}?versionId={version}"


def load_package_model(s3, package: dict, workdir: Path) -> dict:
    from pipeline_src.inference import model_fn
    from pipeline_src.model_io import extract_model_tarball

    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    tarball = common.download(s3, url, workdir / "model.tar.gz")
    return model_fn(str(extract_model_tarball(tarball, workdir / "model")))


def list_keys(s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in common.listing(s3, "list_objects_v2", "Contents", Bucket=bucket,
                                             Prefix=prefix)]


def read_capture(s3, destination: str, endpoint: str, variant: str, hours):
    from pipeline_src import capture

    bucket, prefix = common.split_s3_uri(destination)
    rows = capture.CaptureRows()
    files = 0
    for hour in hours:
        hour_prefix = "/".join(p for p in (prefix, capture.hour_prefix(endpoint, variant, hour))
                               if p) + "/"
        for key in list_keys(s3, bucket, hour_prefix):
            if not key.endswith(".jsonl"):
                continue
            read_capture_object(s3, bucket, key, rows)
            files += 1
    return rows, files


def read_ground_truth(s3, ground_truth_uri: str, endpoint: str, hours, workdir: Path):
    """Every labels CSV under <ground truth>/<endpoint>/yyyy/mm/dd/ of the window's days."""
    import pandas as pd

    from pipeline_src.monitoring import read_labels

    bucket, prefix = common.split_s3_uri(join_s3(ground_truth_uri, endpoint))
    frames = []
    for day in sorted({h.strftime("%Y/%m/%d") for h in hours}):
        for key in list_keys(s3, bucket, f"{prefix}/{day}/"):
            if key.endswith(".csv"):
                path = workdir / "labels" / key.replace("/", "_")
                common.download(s3, f"s3://{bucket}/{key}", path)
                frames.append(read_labels(path))
    if not frames:
        return None
    labels = pd.concat(frames, ignore_index=True)
    return labels.drop_duplicates(["inference_id", "row"], keep="last")


# The deploy function's experiment state (lambda_deploy/experiment.py; the job's zip does not carry
# lambda_deploy, and tests/test_seams.py checks both sides name the same things).
EXPERIMENT_STARTED, EXPERIMENT_DECIDED, EXPERIMENT_ENDED = "1-started", "2-decided", "4-ended"
EXPERIMENT_LIVE, EXPERIMENT_LIVE_DECIDED = "6-live", "7-live-decided"
EXPERIMENT_VERDICT, EXPERIMENT_LIVE_VERDICT = "verdict.json", "live-verdict.json"
# What the job reads of a start record's "experiment", and of a live record.
EXPERIMENT_FIELDS = ("id", "endpoint", "champion_variant", "challenger_variant", "started_at")
LIVE_FIELDS = ("share", "started_at")


def undecided_experiments(s3, experiments_uri: str, endpoint: str) -> list[dict]:
    """The start records of the endpoint's experiments that await a decision (started, neither
    decided nor ended), oldest id first."""
    bucket, prefix = common.split_s3_uri(join_s3(experiments_uri, endpoint))
    steps: dict[str, set] = {}
    for key in list_keys(s3, bucket, f"{prefix}/"):
        parts = key[len(prefix) + 1:].split("/")
        if len(parts) == 2 and parts[1].endswith(".json"):
            steps.setdefault(parts[0], set()).add(parts[1][:-len(".json")])
    records = []
    for experiment_id, done in sorted(steps.items()):
        if EXPERIMENT_STARTED not in done or done & {EXPERIMENT_ENDED}:
            continue
        live = EXPERIMENT_LIVE in done and EXPERIMENT_LIVE_DECIDED not in done
        if EXPERIMENT_DECIDED in done and not live:
            continue
        key = f"{prefix}/{experiment_id}/{EXPERIMENT_STARTED}.json"
        body = aws_call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read()
        record = start_record(body, f"s3://{bucket}/{key}")
        if live:
            key = f"{prefix}/{experiment_id}/{EXPERIMENT_LIVE}.json"
            body = aws_call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read()
            record.update(live_record(body, f"s3://{bucket}/{key}"))
        records.append(record)
    return records


def live_record(body: bytes, where: str) -> dict:
    """The live phase's start and share (the controller's 6-live record); JobError (one line)."""
    import json

    from pipeline_src.verdict import parse_time

    try:
        record = json.loads(body)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not all(f in record for f in LIVE_FIELDS):
        raise JobError(f"{where}: not a live-phase record (needs {', '.join(LIVE_FIELDS)})")
    share, started = record["share"], parse_time(record["started_at"])
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise JobError(f"{where}: share {share!r} is not between 0 and 1")
    if started is None:
        raise JobError(f"{where}: started_at {record['started_at']!r} is not a time")
    return {"phase": "live", "share": float(share), "started": started,
            "live_started_at": record["started_at"]}


def start_record(body: bytes, where: str) -> dict:
    """The fields the job reads of a start record; JobError (one line) naming what is wrong."""
    import json

    from pipeline_src.verdict import parse_time

    try:
        record = json.loads(body).get("experiment")
    except (ValueError, AttributeError):
        record = None
    missing = [f for f in EXPERIMENT_FIELDS
               if not isinstance(record, dict) or not isinstance(record.get(f), str)]
    if missing:
        raise JobError(f"{where}: not an experiment start record (missing experiment."
                       f"{', experiment.'.join(missing)})")
    started = parse_time(record["started_at"])
    if started is None:
        raise JobError(f"{where}: experiment.started_at {record['started_at']!r} is not a time")
    return {**{f: record[f] for f in EXPERIMENT_FIELDS}, "started": started}


def read_capture_since(s3, destination: str, endpoint: str, variant: str, start: datetime,
                       end: datetime):
    """A variant's capture of every hour from start's to the one before end's: one listing of
    the variant's folder (an experiment spans weeks of hourly folders), not one per hour."""
    from pipeline_src import capture

    bucket, prefix = common.split_s3_uri(destination)
    base = "/".join(p for p in (prefix, endpoint, variant) if p) + "/"
    first = capture.hour_prefix(endpoint, variant, start)[len(f"{endpoint}/{variant}/"):]
    last = capture.hour_prefix(endpoint, variant, end)[len(f"{endpoint}/{variant}/"):]
    rows, files = capture.CaptureRows(), 0
    for key in list_keys(s3, bucket, base):
        hour = key[len(base):len(base) + len("yyyy/mm/dd/hh")]
        if key.endswith(".jsonl") and first <= hour < last:
            read_capture_object(s3, bucket, key, rows)
            files += 1
    return rows, files


def read_capture_object(s3, bucket: str, key: str, rows) -> None:
    from pipeline_src import capture

    body = aws_call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read()
    capture.read_lines(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", errors="replace"),
                       rows)


def no_labels():
    import pandas as pd

    from pipeline_src.capture import INFERENCE_ID, ROW
    from pipeline_src.contract import label_name

    return pd.DataFrame({INFERENCE_ID: pd.Series(dtype=object), ROW: pd.Series(dtype="int64"),
                         label_name(): pd.Series(dtype="int64")})


def experiment_verdicts(s3, capture_s3, settings: MonitorJobSettings, endpoint: str,
                        destination: str, as_of: datetime, workdir: Path,
                        output_dir: Path) -> list[dict]:
    """Write the verdict of each of the endpoint's undecided experiments, as of `as_of`. s3 acts
    in the job's account (experiment state, labels), capture_s3 where the endpoint is."""
    import json
    from datetime import timedelta

    from pipeline_src.verdict import VerdictInputError, live_verdict, verdict

    rule = settings.experiments[endpoint]
    written = []
    for record in undecided_experiments(s3, settings.experiments_uri, endpoint):
        start = record["started"]
        if as_of <= start:
            continue
        sides, files = {}, 0
        for side in ("champion", "challenger"):
            rows, count = read_capture_since(capture_s3, destination, endpoint,
                                             record[f"{side}_variant"], start, as_of)
            sides[side], files = rows.frame(), files + count
        # Labels are filed by the day they arrive: every day from the start's to as_of's.
        first_day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
        days = [first_day + timedelta(days=d)
                for d in range((as_of.astimezone(timezone.utc) - first_day).days + 1)]
        labels = read_ground_truth(s3, settings.ground_truth_uri, endpoint, days,
                                   workdir / "experiments" / record["id"])
        labels = no_labels() if labels is None else labels
        live = record.get("phase") == "live"
        try:
            if live:
                # Unpaired: each record is the variant's whose folder holds it (it served it).
                summary = live_verdict(sides["champion"], sides["challenger"], labels,
                                       start=start, as_of=as_of, share=record["share"],
                                       rule=rule)
            else:
                summary = verdict(sides["champion"], sides["challenger"], labels,
                                  start=start, as_of=as_of, rule=rule)
        except VerdictInputError as exc:
            raise JobError(f"{endpoint} experiment {record['id']}: {exc}") from None
        # Only what the inputs determine: the same capture, labels and as_of give the same bytes.
        summary.update(experiment=record["id"], champion_variant=record["champion_variant"],
                       challenger_variant=record["challenger_variant"],
                       start=start.isoformat(), as_of=as_of.isoformat(), capture_files=files)
        body = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
        # One PutObject: the controller reads the previous verdict or this one, never a part.
        name = EXPERIMENT_LIVE_VERDICT if live else EXPERIMENT_VERDICT
        uri = join_s3(settings.experiments_uri, endpoint, record["id"], name)
        common.upload_bytes(s3, uri, body, settings.kms_key_arn, "application/json")
        common.write_json(output_dir / endpoint / "experiments" / record["id"] / name, summary)
        print(f"{endpoint}: experiment {record['id']}: {summary['outcome']}: {summary['reason']}; "
              f"wrote {uri}")
        written.append(summary)
    return written


def window_name(hours) -> str:
    return f"{hours[0]:%Y%m%dT%H}-{len(hours)}h"


def dimensions_of(endpoint: str, region: str) -> list[dict]:
    """An endpoint's metrics in one region (the alarms and dashboard name both)."""
    return [{"Name": "EndpointName", "Value": endpoint},
            {"Name": REGION_DIMENSION, "Value": region}]


def publish_metrics(cw, namespace: str, endpoint: str, region: str, summary: dict,
                    when: datetime) -> int:
    from pipeline_src.monitoring import metric_values

    data = []
    for name, value, unit, feature in metric_values(summary):
        dimensions = dimensions_of(endpoint, region)
        if feature is not None:
            dimensions.append({"Name": "Feature", "Value": feature})
        data.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": when,
                     "Value": float(value), "Unit": unit})
    for start in range(0, len(data), 500):
        aws_call(cw, "PutMetricData", Namespace=namespace, MetricData=data[start:start + 500])
    return len(data)


def monitor_endpoint(session, settings: MonitorJobSettings, endpoint: str, window_end: datetime,
                     output_dir: Path) -> list[dict]:
    """Every region of the endpoint, primary first; the summaries of those it is deployed in."""
    assumed = reader_session(session, settings, endpoint)
    regions = endpoint_regions(session, settings, endpoint)
    summaries = []
    for region in regions:
        summary = monitor_region(session, settings, endpoint, region,
                                 None if region == regions[0] else region,
                                 endpoint_clients(session, assumed, region), window_end,
                                 output_dir)
        if summary is not None:
            summaries.append(summary)
    return summaries


def monitor_region(session, settings: MonitorJobSettings, endpoint: str, region: str,
                   secondary: str | None, endpoint_side, window_end: datetime,
                   output_dir: Path) -> dict | None:
    """One region's window of the endpoint; `secondary` is the region's name for a secondary
    region (its reports sit under <endpoint>/<region>/), None for the primary."""
    import json

    from pipeline_src import capture
    from pipeline_src.capture import PROBABILITY
    from pipeline_src.evaluate import score
    from pipeline_src.monitoring import analyse, write_report

    s3, sm, cw = common.clients(session, "s3", "sagemaker", "cloudwatch")
    endpoint_sm, endpoint_s3 = endpoint_side
    where = endpoint if secondary is None else f"{endpoint} ({region})"
    chain = serving_chain(endpoint_sm, endpoint, settings.model_package_group, registry=sm)
    if chain is None:
        print(f"{where}: no such endpoint (not deployed yet); skipped")
        return None
    config_name, variant, destination, package = chain
    hours = capture.window_hours(window_end, settings.schedule_hours)
    window = window_name(hours)
    print(f"{where}: config {config_name}, package {package['ModelPackageArn']}, "
          f"window {window}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        reference, reference_uri = reference_data(s3, package, settings.data_uri, workdir)
        model = load_package_model(s3, package, workdir)
        reference = reference.assign(**{PROBABILITY: score(model, reference)})
        rows, files = read_capture(endpoint_s3, destination, endpoint, variant, hours)
        labels = read_ground_truth(s3, settings.ground_truth_uri, endpoint, hours, workdir)
        current = rows.frame()
        base = {"endpoint": endpoint, "region": region, "endpoint_config": config_name,
                "model_package_arn": package["ModelPackageArn"], "window": window,
                "window_start": hours[0].isoformat(), "capture_files": files,
                "reference": reference_uri}
        if len(current) == 0:
            summary = {**base, "records": rows.records, "rows": 0,
                       "contract_violations": rows.violations,
                       "contract_violation_reasons": rows.violation_reasons,
                       "verdict": "no usable captured rows", "alert": False}
            report = None
        else:
            summary, frames = analyse(reference, current, settings,
                                      labels=labels, violations=rows.violations,
                                      violation_reasons=rows.violation_reasons,
                                      records=rows.records)
            summary = {**base, **summary}
            report = workdir / "report.html"
            write_report(frames, summary, report, threshold=model["threshold"])
        out_uri = join_s3(settings.output_uri, endpoint, *([secondary] if secondary else []),
                          window)
        body = (json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n").encode()
        common.upload_bytes(s3, join_s3(out_uri, "summary.json"), body, settings.kms_key_arn,
                            "application/json")
        for path in sorted(workdir.glob("report*.html")) if report else []:
            common.upload_bytes(s3, join_s3(out_uri, path.name), path.read_bytes(),
                                settings.kms_key_arn, "text/html")
        common.write_json(output_dir / endpoint / (secondary or "") / "summary.json", summary)
        # A stage running an experiment serves from one region (infra/config.py).
        if endpoint in settings.experiments and secondary is None:
            experiment_verdicts(s3, endpoint_s3, settings, endpoint, destination, window_end,
                                workdir, output_dir)
    if summary.get("rows"):
        count = publish_metrics(cw, settings.metric_namespace, endpoint, region, summary,
                                hours[-1].replace(minute=59))
        print(f"{where}: published {count} metric values to {settings.metric_namespace}")
    else:
        publish_metrics_rows_only(cw, settings.metric_namespace, endpoint, region, summary,
                                  hours[-1].replace(minute=59))
    print(f"{where}: {summary['verdict']}; {summary.get('rows', 0)} rows, "
          f"{summary['contract_violations']} contract violation(s); report {out_uri}/")
    return summary


def publish_metrics_rows_only(cw, namespace: str, endpoint: str, region: str, summary: dict,
                              when) -> None:
    aws_call(cw, "PutMetricData", Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": dimensions_of(endpoint, region),
         "Timestamp": when, "Value": float(summary[key]), "Unit": "Count"}
        for name, key in (("Rows", "rows"), ("ContractViolations", "contract_violations"))])


def parse_window_end(text):
    if text is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"--window-end {text!r} is not an ISO date/time, "
                            "e.g. 2026-11-22T06:00")
    return value.replace(tzinfo=value.tzinfo or timezone.utc)


def run_job(endpoint, window_end, output_dir: Path, environ=None, session=None) -> int:
    import boto3

    from pipeline_src.jobs.monitor_settings import SettingsInvalid, read_environment
    from pipeline_src.monitoring import disable_telemetry

    disable_telemetry()
    try:
        settings = read_environment(environ)
    except SettingsInvalid as exc:
        raise SettingsError(str(exc)) from None
    endpoints = list(settings.endpoints)
    if endpoint is not None:
        if endpoint not in endpoints:
            raise SettingsError(f"--endpoint {endpoint!r} is not monitored here; monitored: "
                                f"{', '.join(endpoints)}")
        endpoints = [endpoint]
    session = session or boto3.session.Session(region_name=settings.region)
    for name in endpoints:
        monitor_endpoint(session, settings, name, window_end, output_dir)
    # Drift or low quality is reported by metrics and alarms; a failed build means the job
    # itself could not run.
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_src.jobs.monitor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint")
    parser.add_argument("--window-end")
    parser.add_argument("--output-dir", default="job-output", type=Path)
    args = parser.parse_args(argv)
    return common.run(lambda: run_job(args.endpoint, parse_window_end(args.window_end),
                                      args.output_dir))


if __name__ == "__main__":
    sys.exit(main())
