"""-o junit: a report as JUnit XML, the test report every CI system reads.

One test suite for the run (the account's, named by the command and the spec), one test
case per role and check: a failing check is a failure with its full message, a check
qbroles could not decide (unknown) is skipped with what would settle it (a failure under
--strict), a warning passes with the warning as its output. The element and attribute
names are the ones Jenkins, GitLab and GitHub's test reporters read (testsuites,
testsuite, testcase, failure, skipped, system-out).
"""

from __future__ import annotations

from xml.etree import ElementTree

from qbroles.model.checks import Severity
from qbroles.model.report import Report


def junit(report: Report, account: str | None = None) -> str:
    """Return the report as a JUnit XML document."""
    name = f"qbroles {report.command}" + (f" {account}" if account else "")
    if report.spec_label:
        name += f" ({report.spec_label})"
    suites = ElementTree.Element("testsuites", name="qbroles")
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
                failure.text = _detail(check.message, check.expected, check.actual)
            elif not check.ok:  # a warning
                ElementTree.SubElement(case, "system-out").text = f"warning: {check.message}"
        if role.refusal:
            counts["tests"] += 1
            counts["failures"] += 1
            case = ElementTree.SubElement(suite, "testcase", classname=role.name, name="refused")
            ElementTree.SubElement(case, "failure", message=role.refusal, type="refused")
    for key, value in counts.items():
        suite.set(key, str(value))
        suites.set(key, str(value))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _detail(message: str, expected: object, actual: object) -> str:
    return f"{message}\nexpected: {expected}\nactual: {actual}"
