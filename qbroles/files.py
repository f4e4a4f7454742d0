"""Writing the files qbroles makes (a spec, a template): never over a file, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qbroles.errors import InputError, SafetyError


def write_new(path: str, text: str, *, force: bool = False) -> None:
    """Write a file that must not exist yet, unless ``force``; never leave half a file."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path} is a directory; give the path of the file to write.")
    if not target.parent.is_dir():
        raise InputError(f"the directory of {path} does not exist; create it first.")
    if target.exists() and not force:
        raise SafetyError(
            f"{path} exists and qbroles will not overwrite it; pass --force to replace "
            "it, or give another path."
        )
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if force:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # fails if someone created it meanwhile
    except FileExistsError:
        raise SafetyError(
            f"{path} appeared while qbroles was writing; nothing was changed."
        ) from None
    except OSError as exc:
        raise InputError(f"cannot write {path} ({exc.strerror}).") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
