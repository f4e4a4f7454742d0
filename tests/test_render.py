"""Rendering of plans: each change is marked + (adds), - (removes) or ~ (changes in place)."""

from __future__ import annotations

from rich.console import Console

from qbroles.model.actions import (
    AttachPolicy,
    DeleteBoundary,
    PutInlinePolicy,
    TagRole,
    UntagRole,
    UpdateRole,
)
from qbroles.model.report import Report, RoleReport
from qbroles.report.view import print_report


def test_each_change_carries_the_sign_of_what_it_does() -> None:
    changes = (
        TagRole("R", {"Team": "web"}),
        UntagRole("R", ("Old",)),
        PutInlinePolicy("R", "read", {}),
        DeleteBoundary("R"),
        UpdateRole("R", "d", 3600),
        AttachPolicy("R", "arn:aws:iam::aws:policy/X"),
    )
    console = Console(record=True, width=200, color_system=None)
    print_report(
        Report("create", dry_run=True, roles=(RoleReport("R", None, changes),), changed=True),
        console,
    )
    lines = [line.strip() for line in console.export_text().splitlines()[2:]]
    lines = [line for line in lines[: lines.index("")] if line[1:2] == " "]  # not documents
    assert [line.split(" ", 1) for line in lines] == [
        ["+", "tag R with Team=web"],
        ["-", "untag R: Old"],
        ["+", "put inline policy read on R"],
        ["-", "remove the permissions boundary of R (widens what it may do)"],
        ["~", "update the description and maximum session (3600 s) of R"],
        ["+", "attach X to R"],
    ]
