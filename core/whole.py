"""Version numbers and counts given to public functions: whole numbers, or a clear error.

Python lets a bool stand for an int and DuckDB rounds a float into an INTEGER column, so
`datasets.get("demo", True)` read version 1, `Lookup.neighbors(c, 2.5)` gave two rows,
`top_terms(name, 1, True)` one, `neighbors(c, float("nan"))` ended in a ValueError from
numpy and `audit.entries(-1)` in a DuckDB binder error. Each public function that takes a
version or a count checks it here, naming the argument; a yes/no setting (`flag`) is
checked here too: any value is true or false to Python, so `with_terms="no"` meant yes.
"""

from __future__ import annotations

import numbers

from core.errors import InputError, shown


def whole(name: str, value: object, minimum: int = 1) -> int:
    """`value` as an int, or an InputError naming `name`: a bool, a string, a float (even
    2.0: a count is not measured), NaN or infinity, or a number below `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be a whole number of at least {minimum}, not "
                         f"{shown(value)}.")
    return int(value)


def flag(name: str, value: object) -> bool:
    """`value` as a bool, or an InputError naming `name`: only True and False (numpy's
    too) are yes and no; "no", "false", 0 or None were read as Python reads them."""
    if isinstance(value, bool) or _numpy_bool(value):
        return bool(value)
    raise InputError(f"{name} must be True or False, not {shown(value):.80}.")


def _numpy_bool(value: object) -> bool:
    """Whether `value` is one numpy bool (a cell of a bool column), without importing
    numpy here."""
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", None) == "b" and getattr(value, "shape", None) == ()


def version(value: object) -> int | None:
    """A dataset version number (1 or more), or None for "the latest"."""
    return None if value is None else whole("version", value)
