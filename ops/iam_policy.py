"""IAM policy documents: parse them, and say how an edited document grants more than before.

Used by the review commands (``python main.py diff``) on synthesized stacks and on plan JSON.
Documents come as JSON strings (``policy``, ``assume_role_policy`` and friends) or as
``aws_iam_policy_document`` data sources. Terraform references (``${aws_kms_key.x.arn}``) are
compared as text.

"Grants more" is judged against the whole old document, not statement by statement, so moving an
action from one statement to another is not reported; a statement only counts as widened when
some (action, resource, principal) it allows was not allowed before under the same or stricter
conditions.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

# Attributes whose value is an IAM policy document (JSON string), on any resource type.
POLICY_ATTRIBUTES = ("policy", "assume_role_policy", "access_policies", "key_policy")
TRUST_ATTRIBUTES = ("assume_role_policy",)


class Unparsable(str):
    """A policy value that is not a JSON document (an expression, or unknown until apply)."""


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str  # "Allow" | "Deny"
    actions: frozenset
    not_actions: frozenset
    resources: frozenset
    not_resources: frozenset
    principals: frozenset  # of (type, identifier)
    not_principals: frozenset
    conditions: frozenset  # of (operator, key, frozenset(values))

    def label(self) -> str:
        return f"`{self.sid}`" if self.sid else _short_list(self.actions or self.not_actions, 3)


def _as_set(value: Any) -> frozenset:
    if value is None:
        return frozenset()
    items = value if isinstance(value, (list, tuple)) else [value]
    return frozenset(str(v) for v in items)


def _principals(value: Any) -> frozenset:
    if value is None:
        return frozenset()
    if value == "*":
        return frozenset({("*", "*")})
    if isinstance(value, dict):
        return frozenset((str(kind), str(ident)) for kind, idents in value.items()
                         for ident in (idents if isinstance(idents, list) else [idents]))
    return frozenset({("?", str(value))})


def _conditions(value: Any) -> frozenset:
    out = set()
    if isinstance(value, dict):
        for operator, entries in value.items():
            if isinstance(entries, dict):
                for key, values in entries.items():
                    out.add((str(operator), str(key), _as_set(values)))
    return frozenset(out)


def _statement(raw: dict) -> Statement:
    return Statement(
        sid=str(raw.get("Sid") or ""),
        effect=str(raw.get("Effect") or "Allow"),
        actions=_as_set(raw.get("Action")),
        not_actions=_as_set(raw.get("NotAction")),
        resources=_as_set(raw.get("Resource")),
        not_resources=_as_set(raw.get("NotResource")),
        principals=_principals(raw.get("Principal")),
        not_principals=_principals(raw.get("NotPrincipal")),
        conditions=_conditions(raw.get("Condition")),
    )


def parse_document(value: Any) -> Optional[list[Statement] | Unparsable]:
    """Statements of a policy document, Unparsable(value) if it cannot be read, None if empty."""
    if value is None or value == "":
        return None
    doc = value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\$\{[^{}]*\}", text):
            # A reference to a document defined elsewhere (e.g. data.aws_iam_policy_document.x.json):
            # that data source carries the content and is compared on its own.
            return None
        try:
            doc = json.loads(text)
        except ValueError:
            return Unparsable(value)
    if not isinstance(doc, dict):
        return Unparsable(str(value))
    raw = doc.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return Unparsable(str(value))
    return [_statement(s) for s in raw if isinstance(s, dict)]


def _blocks(value: Any) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def document_from_data_source(attrs: dict) -> list[Statement]:
    """Statements of an ``aws_iam_policy_document`` data source."""
    out = []
    for block in _blocks(attrs.get("statement")):
        def principals(key: str) -> frozenset:
            return frozenset((str(p.get("type")), str(i)) for p in _blocks(block.get(key))
                             for i in (p.get("identifiers") or []))
        out.append(Statement(
            sid=str(block.get("sid") or ""),
            effect=str(block.get("effect") or "Allow"),
            actions=_as_set(block.get("actions")),
            not_actions=_as_set(block.get("not_actions")),
            resources=_as_set(block.get("resources")),
            not_resources=_as_set(block.get("not_resources")),
            principals=principals("principals"),
            not_principals=principals("not_principals"),
            conditions=frozenset((str(c.get("test")), str(c.get("variable")),
                                  _as_set(c.get("values"))) for c in _blocks(block.get("condition"))),
        ))
    return out


def documents(rtype: str, attrs: Optional[dict]) -> dict[str, Any]:
    """Every policy document a resource carries: {attribute label: statements | Unparsable}."""
    if not attrs:
        return {}
    if rtype == "aws_iam_policy_document":
        return {"statement": document_from_data_source(attrs)}
    out: dict[str, Any] = {}
    for key in POLICY_ATTRIBUTES:
        doc = parse_document(attrs.get(key))
        if doc is not None:
            out[key] = doc
    for block in _blocks(attrs.get("inline_policy")):
        doc = parse_document(block.get("policy"))
        if doc is not None:
            out[f"inline_policy[{block.get('name', '')}]"] = doc
    return out


# ---- coverage ------------------------------------------------------------------------------

def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    if pattern == value:
        return True
    if "*" not in pattern and "?" not in pattern:
        return False
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _covered(value: str, patterns: Iterable[str], ignore_case: bool = False) -> bool:
    return any(_glob(p, value, ignore_case) for p in patterns)


def _principal_covered(principal: tuple, patterns: frozenset) -> bool:
    if ("*", "*") in patterns:
        return True
    kind, ident = principal
    return any(k == kind and (i == "*" or i == ident) for k, i in patterns)


def _conditions_no_looser(old: frozenset, new: frozenset) -> bool:
    """True when every condition of ``old`` holds in ``new`` with the same or fewer values."""
    new_by_key = {(op, key.lower()): values for op, key, values in new}
    return all((op, key.lower()) in new_by_key and new_by_key[(op, key.lower())] <= values
               for op, key, values in old)


def _grants(stmt: Statement) -> list[tuple]:
    """(action, resource, principal) triples an Allow statement grants (NotX handled apart)."""
    actions = sorted(stmt.actions) or ["<none>"]
    resources = sorted(stmt.resources) or ["<none>"]
    principals = sorted(stmt.principals) or [("", "")]
    return [(a, r, p) for a in actions for r in resources for p in principals]


def _triple_covered(triple: tuple, stmt: Statement, old: Statement) -> bool:
    action, resource, principal = triple
    if old.not_actions or old.not_resources or old.not_principals:
        return old == stmt  # only an identical NotX statement covers anything
    if not _covered(action, old.actions, ignore_case=True):
        return False
    if resource != "<none>" and not _covered(resource, old.resources):
        return False
    if resource == "<none>" and old.resources:
        return False
    if principal != ("", "") and not _principal_covered(principal, old.principals):
        return False
    return _conditions_no_looser(old.conditions, stmt.conditions)


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _partner(stmt: Statement, candidates: list[Statement]) -> Optional[Statement]:
    """The old statement this one most likely is (same Sid, else most similar, same effect)."""
    same = [c for c in candidates if c.effect == stmt.effect]
    if stmt.sid:
        for c in same:
            if c.sid == stmt.sid:
                return c
    scored = [(2 * _jaccard(stmt.actions, c.actions) + _jaccard(stmt.resources, c.resources)
               + _jaccard(stmt.principals, c.principals), i) for i, c in enumerate(same)
              if not (stmt.sid and c.sid)]
    scored = [s for s in scored if s[0] > 0.5]
    return same[max(scored)[1]] if scored else None


def _short_list(items: Iterable, limit: int = 6) -> str:
    items = sorted(str(i) for i in items)
    shown = ", ".join(f"`{i}`" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _fmt_principal(p: tuple) -> str:
    return "everyone (`*`)" if p == ("*", "*") or p[1] == "*" else f"{p[0]} `{p[1]}`"


def _fmt_condition(c: tuple) -> str:
    op, key, values = c
    return f"`{op} {key}` = {_short_list(values, 3)}"


def _explain_widening(new: Statement, old: Statement, trust: bool) -> list[str]:
    reasons = []
    added_actions = [a for a in new.actions if not _covered(a, old.actions, ignore_case=True)]
    if added_actions:
        wild = [a for a in added_actions if "*" in a]
        reasons.append(f"new actions {_short_list(added_actions)}"
                       + (f" (wildcard {_short_list(wild)})" if wild else ""))
    added_resources = [r for r in new.resources if not _covered(r, old.resources)]
    if added_resources:
        if "*" in added_resources:
            reasons.append("resource widened to `*`")
        else:
            reasons.append(f"broader resources {_short_list(added_resources)}")
    added_principals = [p for p in new.principals if not _principal_covered(p, old.principals)]
    if added_principals:
        what = "trust policy principal widened" if trust else "principal widened"
        reasons.append(f"{what}: {', '.join(_fmt_principal(p) for p in sorted(added_principals))}")
    new_by_key = {(op, key.lower()): values for op, key, values in new.conditions}
    for cond in sorted(old.conditions, key=lambda c: (c[0], c[1])):
        op, key, values = cond
        now = new_by_key.get((op, key.lower()))
        if now is None:
            reasons.append(f"condition dropped: {_fmt_condition(cond)}")
        elif now >= values and now != values:
            reasons.append(f"condition loosened: `{op} {key}` now also allows "
                           f"{_short_list(now - values, 3)}")
        elif not now <= values:
            reasons.append(f"condition changed: `{op} {key}` now allows {_short_list(now, 3)} "
                           f"instead of {_short_list(values, 3)}")
    if new.not_actions != old.not_actions or new.not_resources != old.not_resources:
        reasons.append("NotAction/NotResource changed")
    return reasons


def compare(old: Optional[list[Statement]], new: Optional[list[Statement]],
            *, trust: bool = False) -> list[str]:
    """Plain-language reasons ``new`` grants more (or denies less) than ``old``; [] if it does not."""
    old = old or []
    new = new or []
    findings: list[str] = []
    old_allows = [s for s in old if s.effect == "Allow"]
    kind = "trust policy statement" if trust else "Allow statement"
    for stmt in [s for s in new if s.effect == "Allow"]:
        if stmt in old_allows:
            continue
        if stmt.not_actions or stmt.not_resources or stmt.not_principals:
            findings.append(f"{kind} with NotAction/NotResource/NotPrincipal added or changed "
                            f"({stmt.label()})")
            continue
        uncovered = [t for t in _grants(stmt)
                     if not any(_triple_covered(t, stmt, o) for o in old_allows)]
        if not uncovered:
            continue
        partner = _partner(stmt, old_allows)
        reasons = _explain_widening(stmt, partner, trust) if partner else []
        if partner and reasons:
            findings.append(f"{kind} {partner.label()} widened: " + "; ".join(reasons))
        elif partner:
            findings.append(f"{kind} {partner.label()} widened: now grants "
                            f"{_short_list({a for a, _, _ in uncovered})} on "
                            f"{_short_list({r for _, r, _ in uncovered})}")
        else:
            parts = [f"actions {_short_list(stmt.actions)}"]
            if stmt.resources:
                parts.append(f"on {_short_list(stmt.resources)}")
            if stmt.principals:
                parts.append("for " + ", ".join(_fmt_principal(p) for p in sorted(stmt.principals)))
            if stmt.conditions:
                parts.append("when " + " and ".join(_fmt_condition(c) for c in sorted(
                    stmt.conditions, key=lambda c: (c[0], c[1]))))
            else:
                parts.append("with no condition")
            wild = [x for x in stmt.actions | stmt.resources if "*" in x]
            flag = f" (wildcards: {_short_list(wild)})" if wild else ""
            findings.append(f"{kind} added: " + " ".join(parts) + flag)
    new_denies = [s for s in new if s.effect == "Deny"]
    for stmt in [s for s in old if s.effect == "Deny"]:
        if stmt in new_denies:
            continue
        if any(_deny_still_covered(stmt, n) for n in new_denies):
            continue
        partner = _partner(stmt, new_denies)
        if partner is None:
            findings.append(f"Deny statement removed ({stmt.label()}: "
                            f"{_short_list(stmt.actions or stmt.not_actions)})")
        else:
            findings.append(f"Deny statement {stmt.label()} narrowed: no longer denies everything "
                            f"it did (actions {_short_list(stmt.actions)} on "
                            f"{_short_list(stmt.resources)})")
    return findings


def _deny_still_covered(old: Statement, new: Statement) -> bool:
    if old.not_actions or old.not_resources or new.not_actions or new.not_resources:
        return old == new
    return (all(_covered(a, new.actions, ignore_case=True) for a in old.actions)
            and all(_covered(r, new.resources) for r in old.resources)
            and all(_principal_covered(p, new.principals) for p in old.principals)
            and _conditions_no_looser(new.conditions, old.conditions))
