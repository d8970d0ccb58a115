"""The README's commands against the CLI (and those of the long records in `docs/` it links
to): a command or option renamed or removed in code while the README still shows it is a
stale instruction a new user copies and gets a usage error from. Only the parser is built
(no store, no model), so this is cheap."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from core import cli
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
OPTION = re.compile(r"(?<![\w-])--?[a-zA-Z][\w-]*")
PLACEHOLDERS = {"…", "COMMAND", "--help"}  # "python -m core …", "python -m core COMMAND --help"


def readme_commands(path: Path = README) -> list[tuple[int, str]]:
    """(line, text) of every `python -m core …` a page shows: each line of a fenced
    block that runs one, with the indented `# [--flag …]` comment lines under it (the
    reference block continues a command's options there), and each inline code span."""
    found: list[tuple[int, str]] = []
    in_block = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            code, _, comment = line.partition("#")
            if "python -m core" in code:
                found.append((number, code.split("python -m core", 1)[1] + comment))
            elif found and found[-1][0] == number - 1 and not code.strip():
                found[-1] = (number, found[-1][1] + " " + comment)  # options continued
            continue
        for span in re.findall(r"`python -m core ([^`]+)`", line):
            found.append((number, span))
    return found


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    """The options of a command and of all its subcommands (`keys create --role`)."""
    names = {name for action in parser._actions for name in action.option_strings}
    for sub in subparsers(parser).values():
        names |= options(sub)
    return names


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: path.name)
def test_every_command_and_option_the_readme_shows_exists(page: Path) -> None:
    commands = subparsers(cli.build_parser())
    shown = readme_commands(page)
    if page.name in ("README.md", "cli.md"):
        assert len(shown) > 20  # the command blocks and the prose, not an empty match
    stale = []
    name = page.relative_to(REPO)
    for number, text in shown:
        words = text.split()
        if not words or words[0] in PLACEHOLDERS:
            continue
        command = commands.get(words[0])
        if command is None:
            stale.append(f"{name} line {number}: no command {words[0]!r}")
            continue
        second = subparsers(command)
        if second and len(words) > 1 and words[1] not in second:
            stale.append(f"{name} line {number}: {words[0]} has no {words[1]!r}")
        known = options(command)
        stale += [f"{name} line {number}: {words[0]} has no option {flag}"
                  for flag in OPTION.findall(" ".join(words[1:])) if flag not in known]
    assert not stale, "\n".join(stale)


def test_the_check_sees_a_stale_option_and_command() -> None:
    """The extraction reads the options of a reference line's comment continuation, so
    an option renamed in code fails here rather than in a user's terminal (the reference
    block is the CLI's page, docs/cli.md)."""
    by_line = dict(readme_commands(REPO / "docs" / "cli.md"))
    train = next(text for text in by_line.values() if text.split()[0] == "train"
                 and "--spare-share" in text)
    assert "--diversify" in train and "--engine" in train
    assert "--spare-share" in options(subparsers(cli.build_parser())["train"])


def test_the_readme_links_every_page_of_docs() -> None:
    """The long records moved out of the README are found from it: a page in `docs/` no
    link names is one no reader finds."""
    text = README.read_text(encoding="utf-8")
    assert DOCS, "docs/ holds no page"
    for page in DOCS:
        assert f"](docs/{page.name})" in text, f"the README links no docs/{page.name}"


def test_the_layout_table_names_every_module_of_core() -> None:
    """The README's layer table is where a reader looks a module up: it lacked
    `currencies`, `term_file`, `campaign_vectors`, `spare_topics`, `memory`, `jsonable` and
    `plain_text` long after they were written."""
    text = README.read_text(encoding="utf-8")
    rows = {match[0]: set(re.findall(r"`(\w+)`", match[1]))
            for match in re.findall(r"^\| `core/(\w*)/?` \| (.*) \|$", text, re.M)}
    assert set(rows) == {"", "data", "model", "serve", "ops"}
    core = REPO / "core"
    for layer, named in rows.items():
        modules = {path.stem for path in (core / layer).glob("*.py")} - {"__init__", "__main__"}
        if not layer:
            modules -= {"cli"}  # named as "on top", with `core/__init__.py`
        assert modules <= named, f"core/{layer}: the README's layout lacks {modules - named}"
