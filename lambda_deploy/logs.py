"""One JSON object per log line, so CloudWatch Logs Insights can filter on fields.

Callers pass chosen fields only: never the CodePipeline event, never credentials.
"""
from __future__ import annotations

import json
import logging

logger = logging.getLogger("lambda_deploy")
logger.setLevel(logging.INFO)


def log(event: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))


def warn(event: str, **fields) -> None:
    log(event, logging.WARNING, **fields)
