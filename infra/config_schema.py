"""Generated from the pydantic models: config/schema.json and the README's configuration table
(infra/config.py); pipeline_src/contract.schema.json and the README's data contract tables (the
file's settings and the contract's columns; pipeline_src/contract_schema.py, contract.json).

    python -m infra.config_schema --write    regenerate them after changing a setting or column
    python -m infra.config_schema --check    exit 1 when any is stale (tests do this)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from infra.config import EnvironmentConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "config" / "schema.json"
README = ROOT / "README.md"
TABLE_START = "<!-- config-table:start (python -m infra.config_schema --write) -->"
TABLE_END = "<!-- config-table:end -->"
CONTRACT_SCHEMA_FILE = ROOT / "pipeline_src" / "contract.schema.json"
CONTRACT_TABLE = ("<!-- contract-table:start (python -m infra.config_schema --write) -->",
                  "<!-- contract-table:end -->")
COLUMNS_TABLE = ("<!-- contract-columns:start (python -m infra.config_schema --write) -->",
                 "<!-- contract-columns:end -->")


def json_schema() -> dict:
    """JSON Schema of config/<env>.json for editors (the environment name is the file name)."""
    schema = EnvironmentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Environment configuration (config/<env>.json)"
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]
    # Sections defaulted by a factory: state their actual default (staging differs from prod).
    for name, field in EnvironmentConfig.model_fields.items():
        if field.default_factory is not None:
            value = field.get_default(call_default_factory=True)
            schema["properties"][name]["default"] = _plain(value)
    return schema


def _plain(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return [_plain(v) for v in value] if isinstance(value, list) else value


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _resolve(node: dict, defs: dict) -> dict:
    if "$ref" in node:
        return defs[node["$ref"].rsplit("/", 1)[-1]]
    for option in node.get("anyOf", []):
        if option.get("type") != "null":
            return _resolve(option, defs)
    return node


def _allowed(node: dict, defs: dict) -> str:
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) > 1:
        return " or ".join(_allowed(option, defs) for option in options)
    node = _resolve(node, defs)
    if node.get("type") == "array" and "items" in node:
        low, high = node.get("minItems"), node.get("maxItems")
        size = f"{low}..{high} " if low is not None and high is not None else ""
        return f"list of {size}({_allowed(node['items'], defs)})"
    if "enum" in node:
        values = node["enum"]
        if len(values) > 6:
            return f"one of {len(values)} values: {', '.join(map(str, values[:4]))}, ..., {values[-1]}"
        return " / ".join(f"`{v}`" for v in values)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kind = node.get("type", "")
    if kind == "object":
        values = (node.get("additionalProperties") or {}).get("type", "string")
        return "object of " + " or ".join(f"{v}s" for v in
                                           (values if isinstance(values, list) else [values]))
    text = {"integer": "integer", "number": "number", "boolean": "true/false", "string": "string",
            "object": "object of strings"}.get(kind, kind)
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("exclusiveMinimum") is not None:
        text += f" > {node['exclusiveMinimum']}" + (f", ≤ {high}" if high is not None else "")
    elif low is not None and high is not None:
        text += f" {low}..{high}" if low != high else f" {low}"
    elif low is not None:
        text += f" ≥ {low}"
    if "pattern" in node:
        text += f" `{node['pattern']}`"
    if "maxLength" in node and kind == "string":
        text += f" (≤ {node['maxLength']} chars)"
    return text


def _default(value) -> str:
    if value is None:
        return "unset"
    return f"`{json.dumps(value)}`"


def _rows(properties: dict, defs: dict, prefix: str, defaults: dict, required: list) -> list:
    rows = []
    for name, prop in properties.items():
        target = _resolve(prop, defs)
        path = f"{prefix}{name}"
        default = defaults.get(name, prop.get("default"))
        if target.get("type") == "object" and "properties" in target:
            rows += _rows(target["properties"], defs, f"{path}.",
                          default if isinstance(default, dict) else {}, target.get("required", []))
            continue
        named = list((target.get("patternProperties") or {}).values())
        if target.get("type") == "object" and len(named) == 1:
            # Objects by name (network.regions: by region): one row for the object, then its
            # values' settings as <object>.<name>.<setting>.
            value = _resolve(named[0], defs)
            rows.append((path, "object by name", _default(default) if default else "`{}`",
                         prop.get("description", "")))
            rows += _rows(value.get("properties", {}), defs, f"{path}.<name>.", {},
                          value.get("required", []))
            continue
        item = _resolve(target.get("items", {}), defs) if target.get("type") == "array" else {}
        if item.get("type") == "object" and "properties" in item:
            # A list of sections (stages, variants): one row for the list, then its items'
            # settings as <list>[].<setting> with the item's own defaults.
            low, high = target.get("minItems"), target.get("maxItems")
            shown = ", ".join(str(v.get("name", v)) for v in default) \
                if isinstance(default, list) else _default(default)
            rows.append((path, f"list of {low}..{high}", f"{shown}" if shown else "",
                         prop.get("description", "")))
            rows += _rows(item["properties"], defs, f"{path}[].", {}, item.get("required", []))
            continue
        shown = ("required" if not prefix else "required in the section") \
            if name in required and name not in defaults else _default(default)
        rows.append((path, _allowed(prop, defs).replace("|", "\\|"), shown,
                     prop.get("description", "") or target.get("description", "")))
    return rows


def readme_table(schema: dict = None) -> str:
    schema = schema or json_schema()
    defs = schema.get("$defs", {})
    properties = {k: v for k, v in schema["properties"].items() if k != "name"}
    rows = _rows(properties, defs, "", {}, schema.get("required", []))
    lines = ["| setting | allowed | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {allowed} | {default} | {meaning} |"
              for path, allowed, default, meaning in rows]
    return "\n".join(lines)


def readme_with_table(readme: str, table: str, markers=(TABLE_START, TABLE_END)) -> str:
    start, end = readme.index(markers[0]), readme.index(markers[1])
    return readme[:start + len(markers[0])] + "\n" + table + "\n" + readme[end:]


# --- the data contract (pipeline_src/contract.json) ---------------------------------------------

def contract_json_schema() -> dict:
    """JSON Schema of pipeline_src/contract.json for editors (its "$schema" points here)."""
    from pipeline_src.contract_schema import ContractFile

    schema = ContractFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Data contract (pipeline_src/contract.json)"
    return schema


def contract_schema_text() -> str:
    return json.dumps(contract_json_schema(), indent=2, sort_keys=True) + "\n"


def contract_readme_table(schema: dict = None) -> str:
    """The file's settings: the label's, then each feature kind's, through the same rows as the
    environment configuration's table."""
    schema = schema or contract_json_schema()
    defs = schema["$defs"]
    rows = _rows(defs["Label"]["properties"], defs, "label.", {}, defs["Label"]["required"])
    for kind in ("NumericFeature", "CategoricalFeature"):
        properties = {k: v for k, v in defs[kind]["properties"].items() if k != "kind"}
        tag = defs[kind]["properties"]["kind"]["const"]
        rows += _rows(properties, defs, f"features[] ({tag}).", {}, defs[kind]["required"])
    lines = ["| setting | allowed | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {allowed} | {default} | {meaning} |"
              for path, allowed, default, meaning in rows]
    return "\n".join(lines)


def contract_columns_table() -> str:
    """The contract's columns in request order, as pipeline_src.contract reads the file."""
    from pipeline_src.contract import load

    contract = load()
    rows = [(str(i), f"`{f.name}`", "categorical" if f.categorical else f"numeric ({f.dtype})",
             f.describe(), "allowed" if f.nullable else "no", f.description)
            for i, f in enumerate(contract.features, start=1)]
    rows.append(("label", f"`{contract.label}`", "label", f"positive `{contract.positive}`, "
                 f"negative `{contract.negative}`", "no", "what the model predicts"))
    lines = ["| # | column | kind | allowed | nulls | meaning |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv not in (["--write"], ["--check"]):
        print("usage: python -m infra.config_schema --write | --check", file=sys.stderr)
        return 2
    readme = README.read_text(encoding="utf-8")
    readme = readme_with_table(readme, readme_table())
    readme = readme_with_table(readme, contract_readme_table(), CONTRACT_TABLE)
    readme = readme_with_table(readme, contract_columns_table(), COLUMNS_TABLE)
    wanted = {SCHEMA_FILE: schema_text(), CONTRACT_SCHEMA_FILE: contract_schema_text(),
              README: readme}
    stale = [path for path, text in wanted.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if argv == ["--check"]:
        for path in stale:
            print(f"error: {path.relative_to(ROOT)} is stale; run python -m infra.config_schema "
                  "--write", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
