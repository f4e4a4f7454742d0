"""-o junit: a report as JUnit XML, the test report every CI system reads.

One test suite per account (the one account, named by the command and the spec), one
test case per role and check: a failing check is a failure with its full message, a
check qbroles could not decide (unknown) is skipped with what would settle it (a failure
under --strict), a warning passes with the warning as its output. An account that could
not be read is a suite with one failing case. The element and attribute names are the
ones Jenkins, GitLab and GitHub's test reporters read (testsuites, testsuite, testcase,
failure, skipped, system-out).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from qbroles.model.checks import Severity
from qbroles.model.report import AccountReport, Report


def junit(outcomes: Sequence[AccountReport]) -> str:
    """Return the reports of one account (None: the one account) or many as one JUnit XML
    document, a suite per account."""
    suites = ElementTree.Element("testsuites", name="qbroles")
    for account, report, error in outcomes:
        if report is not None:
            _suite(suites, report, account)
            continue
        suite = ElementTree.SubElement(suites, "testsuite", name=f"qbroles {account}")
        case = ElementTree.SubElement(suite, "testcase", classname=str(account), name="read")
        ElementTree.SubElement(case, "failure", message=str(error), type="not read")
        for key, value in (("tests", 1), ("failures", 1), ("skipped", 0)):
            suite.set(key, str(value))
    return _document(suites)


def _document(suites: ElementTree.Element) -> str:
    for key in ("tests", "failures", "skipped"):
        suites.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _suite(suites: ElementTree.Element, report: Report, account: str | None) -> None:
    name = f"qbroles {report.command}" + (f" {account}" if account else "")
    if report.spec_label:
        name += f" ({report.spec_label})"
    suite = ElementTree.SubElement(suites, "testsuite", name=name)
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for role in report.roles:
        for check in role.checks:
            counts["tests"] += 1
            case = ElementTree.SubElement(
                suite, "testcase", classname=role.name, name=check.heading or check.check
            )
            unknown = not check.ok and check.severity is Severity.UNKNOWN
            if unknown and not report.strict:
                counts["skipped"] += 1
                ElementTree.SubElement(case, "skipped", message=check.message)
            elif check.failed or unknown:
                counts["failures"] += 1
                failure = ElementTree.SubElement(
                    case, "failure", message=check.message, type=check.kind.value
                )
                failure.text = (
                    f"{check.message}\nexpected: {check.expected}\nactual: {check.actual}"
                )
            elif not check.ok:  # a warning
                ElementTree.SubElement(case, "system-out").text = f"warning: {check.message}"
        if role.refusal:
            counts["tests"] += 1
            counts["failures"] += 1
            case = ElementTree.SubElement(suite, "testcase", classname=role.name, name="refused")
            ElementTree.SubElement(case, "failure", message=role.refusal, type="refused")
    for key, value in counts.items():
        suite.set(key, str(value))
