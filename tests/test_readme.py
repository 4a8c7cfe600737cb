"""The README is how a user finds their way: its contents list names every section, in order,
with links that resolve on GitHub, and its links to the repository's files point at files that
exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sections(text: str) -> list[str]:
    """The `## ` headings outside code blocks."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            found.append(line[3:].strip())
    return found


def github_anchor(heading: str) -> str:
    """GitHub's heading ids: lower case, characters other than letters, digits, spaces, hyphens
    and underscores removed, spaces made hyphens (github/cmark-gfm's toc filter, as
    github-slugger implements it)."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_contents_list_every_section_in_order():
    body = README.split("\n## Contents\n", 1)
    assert len(body) == 2, "README.md has no '## Contents' section"
    contents_block = body[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- \[(.+?)\]\(#([^)]+)\)$", contents_block, flags=re.M)
    headings = [h for h in sections(README) if h != "Contents"]
    assert [title for title, _ in listed] == headings
    assert [anchor for _, anchor in listed] == [github_anchor(h) for h in headings]


def test_github_anchor_follows_githubs_rule():
    assert github_anchor("Champion vs challenger (`stages[].experiment`)") == \
        "champion-vs-challenger-stagesexperiment"
    assert github_anchor("Duplicate deliveries, tokens and autoscaling") == \
        "duplicate-deliveries-tokens-and-autoscaling"


def test_links_to_repository_files_exist():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)  # code spans: regexes, not links
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: link to {target}: no such file"
