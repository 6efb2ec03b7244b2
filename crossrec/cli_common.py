"""Helpers every command group of the CLI shares (kept apart so the groups never import each
other)."""

from __future__ import annotations

import re
from datetime import date

from crossrec.errors import CrossrecError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_run_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise CrossrecError(f"--date '{value}' is not a valid date (expected YYYY-MM-DD)") from None
