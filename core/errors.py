"""User-facing errors: one exception family whose message is safe to show as-is.

Pages show `str(err)` in an error box; the CLI prints it and exits non-zero. Anything
else that escapes is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


def quoted(value: object, limit: int = 200) -> str:
    """A user-given id or name as messages show it (its repr), cut when longer than `limit`:
    a pasted page of text as a campaign or model id was echoed whole in the error."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:40]!r}… ({len(text):,} characters)"


def shown(value: object) -> str:
    """A setting or argument as messages show it: its repr, a numpy number (or bool or
    text) as the Python value it holds. numpy 2 writes `np.float64(5.0)`, so a value from
    a grid (`np.arange`, a results frame) read "K must be a whole number …, not
    np.float64(5.0)". numpy is not imported here."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(
            value, "item"):
        item = value.item()  # type: ignore[attr-defined]
        # a float32's item is 0.10000000149011612; its str is 0.1, as given
        return repr(item) if isinstance(item, str | bytes) else str(value)
    return repr(value)


def plural(n: int, one: str, many: str | None = None) -> str:
    """`one` for a count of 1, else `many` (`one` + "s" unless given): the word or verb
    that agrees with a count. Messages wrote "1 of its 3,000 campaigns are not in them"
    and "1 term row(s) have no campaign_id"."""
    return one if n == 1 else (one + "s" if many is None else many)


def counted(n: int, one: str, many: str | None = None) -> str:
    """A count with its noun in the right number: "1 campaign", "3,000 campaigns"."""
    return f"{n:,} {plural(n, one, many)}"


def listed(one: str, names: Iterable[object], many: str | None = None) -> str:
    """`one` (or `many`) and the names quoted: "column 'term'", "columns 'campaign_id',
    'term'". Messages said "lack the column(s) ['term']" and "Unknown role(s) …"."""
    names = list(names)
    return f"{plural(len(names), one, many)} {', '.join(map(repr, names))}"


def case_hint(name: object, known: Iterable[str], what: str = "Names") -> str:
    """" Did you mean 'demo'? Names are case-sensitive." when `name` is a known name but
    for case, or for spaces at its ends, which an import strips (else ""): `datasets Demo`
    listed every dataset and left the user to spot it. `what` says what is case-sensitive
    ("Campaign ids")."""
    folded = str(name).strip().casefold()
    same = sorted({k for k in known if k.casefold() == folded and k != name})
    if not same:
        return ""
    cased = any(k != str(name).strip() for k in same)
    return (f" Did you mean {' or '.join(map(quoted, same))}?"
            f"{f' {what} are case-sensitive.' if cased else ''}")


# How a message names the control that does what it suggests. Core's messages name the
# CLI's flags by default; a page offers a checkbox or a picker instead and passes its own
# `Controls`, so each caller's message names the control its user has (the Compare page
# said "promote it with `python -m core promote --other-dataset`" above its checkbox).
class Controls(NamedTuple):
    """Each control as a phrase that completes the message's sentence."""

    other_dataset: str  # confirm replacing a production model of another dataset
    force: str          # promote past the quality gate
    older_version: str  # work on an older dataset version; `{version}` is its number
    drift_other_dataset: str  # measure a dataset against a model of another one
    canary_candidate: str  # free the candidate the canary sends traffic to (a delete)
    new_candidate: str     # give a stopped canary a candidate again
    new_production: str    # free the production model for a delete
    rebind: str            # a model's topics on a newer version; `{model}`, `{version}`


CLI = Controls(
    other_dataset="promote it with `python -m core promote --other-dataset`",
    force="`promote --force`",
    older_version="give `--version {version}` to train on it or check its drift",
    drift_other_dataset="check a model of that dataset (`--model`), or confirm with "
                        "`--other-dataset` (other_dataset=True in Python)",
    canary_candidate="Stop the canary first (`python -m core canary set 0`), or promote "
                     "another model to candidate (`python -m core promote MODEL_ID --alias "
                     "candidate`).",
    new_candidate="promote a model with `python -m core promote MODEL_ID --alias candidate`",
    new_production="Promote another model to production first (`python -m core promote "
                   "MODEL_ID`).",
    rebind="`python -m core rebind {model}` registers its topics on v{version} as a model "
           "to promote",
)


class TopicLabError(Exception):
    """A problem the user can fix: the message names what is wrong and where."""


class InputError(TopicLabError):
    """A file or value given by the user cannot be read or is invalid."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        where = []
        if file:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if column:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.message, self.file, self.line, self.column = message, file, line, column


class NotFoundError(TopicLabError):
    """An id (dataset, version, model, campaign) that does not exist."""


class QueryError(TopicLabError):
    """User SQL that was refused, failed, or ran too long."""


class StoreError(TopicLabError):
    """The store's folder or file cannot be used (not a folder, unwritable, damaged)."""


class StoreBusyError(TopicLabError):
    """Another process held the store's write lock for longer than we wait."""


class AliasMovedError(TopicLabError):
    """An alias moved since the caller read it (another process promoted meanwhile);
    `now` is the model it names now, so a caller may judge again against that one."""

    def __init__(self, message: str, *, alias: str, now: str | None) -> None:
        super().__init__(message)
        self.alias, self.now = alias, now


class PermissionDenied(TopicLabError):
    """The signed-in role may not do this."""


class Cancelled(TopicLabError):
    """Long work stopped on request; nothing was written."""
