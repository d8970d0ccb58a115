"""The CLI's commands are declared beside their handlers (`core.cli.command`); the parser
is assembled from them and must stay cheap to build."""

from __future__ import annotations

import pytest

from core import cli
from tests.conftest import run_python


def test_every_command_has_a_handler_and_its_own_help(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    parser = cli.build_parser()
    assert set(cli.COMMANDS) >= {"ingest", "train", "sweep", "neighbors", "suggest", "serve",
                                 "keys", "canary", "demo"}
    for name, command in cli.COMMANDS.items():
        assert command.name == name and callable(command.run)
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: python -m core {name} ")
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    listing = capsys.readouterr().out
    assert all(command.help[:30] in " ".join(listing.split()) for command in cli.COMMANDS.values())
    # Second-level words (keys create/list/revoke) land where the handler reads them.
    args = parser.parse_args(["keys", "create", "bot", "--role", "scorer"])
    assert (args.command, args.keys_command, args.role, args.rate) == ("keys", "create",
                                                                       "scorer", 600)
    assert cli.COMMANDS["demo"].uses_store is False and cli.COMMANDS["train"].uses_store


def test_a_bad_argument_names_itself_and_the_command() -> None:
    with pytest.raises(cli.UsageError, match=r"--version.*not 0.*python -m core train"):
        cli.build_parser().parse_args(["train", "--dataset", "d", "--version", "0"])


def test_building_the_parser_imports_no_model_library() -> None:
    code = ("import sys; from core.cli import build_parser; build_parser(); "
            "print(' '.join(m for m in ('gensim', 'sklearn', 'tomotopy', 'spacy', 'duckdb', "
            "'streamlit') if m in sys.modules))")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_a_canary_share_may_be_written_with_a_percent_sign() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["canary", "set", "50%"]).percent == 50.0
    assert parser.parse_args(["canary", "set", "12.5 %"]).percent == 12.5
    assert parser.parse_args(["canary", "set", "0"]).percent == 0.0
    with pytest.raises(cli.UsageError, match=r"percent: must be a percentage such as 20 or "
                                             r"20%, not 'half'.*python -m core canary set"):
        parser.parse_args(["canary", "set", "half"])


@pytest.mark.parametrize("argv", [
    ["canary", "set", "٥"],                                   # Arabic-Indic five
    ["canary", "set", "５%"],                                  # full-width five
    ["keys", "create", "bot", "--rate", "١٢٠"],
    ["train", "--dataset", "d", "--version", "٢"],            # whole(): int() read it
    ["train", "--dataset", "d", "--k", "٥"],                  # type=int read it
    ["train", "--dataset", "d", "--eta", "٠.١"],              # type=float read it
])
def test_numbers_are_ascii_digits_only(argv: list[str]) -> None:
    """float() and int() read other scripts' digits: `canary set '٥'` set 5 %."""
    with pytest.raises(cli.UsageError, match=r"not '.*' \(write numbers with the digits "
                                             r"0-9\)"):
        cli.build_parser().parse_args(argv)


def test_a_setting_is_ascii_digits_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import config
    from core.errors import InputError
    monkeypatch.setenv("TOPICLAB_SQL_ROW_CAP", "٥٠")
    with pytest.raises(InputError, match=r"TOPICLAB_SQL_ROW_CAP='٥٠' is not a positive "
                                         r"number \(write numbers with the digits 0-9\)"):
        config.sql_row_cap()
    monkeypatch.setenv("TOPICLAB_SQL_ROW_CAP", "50")
    assert config.sql_row_cap() == 50
    assert cli.build_parser().parse_args(["canary", "set", "5"]).percent == 5.0


def test_every_argument_says_what_it_is_in_help() -> None:
    """`--help` listed 41 arguments by name alone (`sql query`, `label-topic model_id topic
    name`, `train --seed`, `promote --alias`): a new user had to read the README to learn
    what `topic` takes or what `--tolerance` defaults to."""
    import argparse

    def bare(parser: argparse.ArgumentParser, name: str) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    found += bare(sub, f"{name} {word}".strip())
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                found.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        return found

    assert bare(cli.build_parser(), "") == []
