"""The reports of checks that CI systems read (-o junit, -o sarif), by the option's name."""

from __future__ import annotations

from collections.abc import Sequence

from qbroles.model.report import AccountReport


def ci_report(output: str, outcomes: Sequence[AccountReport]) -> str:
    """Return the document -o ``output`` (one of catalog.CHECK_OUTPUTS) asks for."""
    if output == "sarif":
        from qbroles.report.sarif import sarif

        return sarif(outcomes)
    from qbroles.report.junit import junit

    return junit(outcomes)
