"""Edit an environment configuration document the way a user edits config/<env>.json."""
from __future__ import annotations

import json


def with_setting(doc: dict, path: str, value) -> dict:
    """A deep copy of doc with the dotted path (e.g. "stages.1.instance_count": a number indexes
    a list) set to value; missing parents are created."""
    doc = json.loads(json.dumps(doc))
    node = doc
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return doc
