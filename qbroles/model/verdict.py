"""Will ECS start this task definition with these roles? The verdict, from its checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from qbroles.model.checks import TASK_KINDS, Check, CheckKind


class Verdict(Enum):
    STARTS = "starts"
    STARTS_IF = "starts if"  # if the named unknowns hold (exit 0; --strict: 1)
    STARTS_BUT = "starts, but"  # it starts; something it does while running will fail (exit 1)
    CANNOT_START = "cannot start"  # exit 1


@dataclass(frozen=True)
class TaskVerdict:
    """The verdict on one task definition, and what it rests on."""

    task: str  # the file, family:revision, or "live family:revision"
    verdict: Verdict
    because: tuple[str, ...] = ()  # what fails, or each unknown with what would settle it
    resources: bool = True  # whether the resources it names were read (not --no-resources)

    def document(self) -> dict[str, object]:
        """Return the verdict as the JSON document has it (docs/json-output.md)."""
        return {
            "task_definition": self.task,
            "verdict": self.verdict.value,
            "because": list(self.because),
            "resources_read": self.resources,
        }

    def said(self) -> str:
        """Return the verdict for people, in a clause: "taskdef.json starts if 2 unknowns
        hold"."""
        if self.verdict is Verdict.STARTS_IF:
            count = len(self.because)
            said = "1 unknown holds" if count == 1 else f"{count} unknowns hold"
            return f"{self.task} starts if {said}"
        return f"{self.task} {self.verdict.value}" + (
            " (the logs or actions it needs while running will fail)"
            if self.verdict is Verdict.STARTS_BUT
            else ""
        )


def judge(task: str, checks: Iterable[Check], *, resources: bool = True) -> TaskVerdict:
    """Return the verdict on a task definition from every check made of it, on every role.

    A failing start condition: cannot start. Else a failing need of the running task:
    starts, but. Else an unknown or a grant that depends on what qbroles cannot see
    (a condition, another policy): starts if. Else: starts.
    """
    checks = [check for check in checks if check.kind in TASK_KINDS]
    for kind, verdict in (
        (CheckKind.TASK, Verdict.CANNOT_START),
        (CheckKind.APP, Verdict.STARTS_BUT),
    ):
        failing = tuple(dict.fromkeys(c.message for c in checks if c.failed and c.kind is kind))
        if failing:
            return TaskVerdict(task, verdict, failing, resources)
    unsettled = tuple(dict.fromkeys(c.message for c in checks if c.warns))
    if unsettled:
        return TaskVerdict(task, Verdict.STARTS_IF, unsettled, resources)
    return TaskVerdict(task, Verdict.STARTS, (), resources)
