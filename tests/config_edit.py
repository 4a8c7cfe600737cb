"""Edit an environment configuration document the way a user edits config/<env>.json."""
from __future__ import annotations

import json


def with_setting(doc: dict, path: str, value) -> dict:
    """A deep copy of doc with the dotted path (e.g. "endpoints.prod.instance_count") set to
    value; missing parents are created."""
    doc = json.loads(json.dumps(doc))
    node = doc
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return doc
