"""Values made JSON-ready the same way by the CLI (`cli.json_safe`) and the service
(`serve.answers.plain`)."""

from __future__ import annotations

from decimal import Decimal


def decimal_number(value: Decimal) -> int | float | None:
    """A DuckDB HUGEINT or DECIMAL (sums, casts) as a JSON number, not text; None when it
    is not finite."""
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)
