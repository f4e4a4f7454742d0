"""Writing the files qbroles makes (a spec, a template): never over a file, never half of one."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from qbroles.errors import InputError, SafetyError

# The most qbroles reads of any input file (a spec, a policy, a task definition, a restore
# file): far more than any of them needs, and /dev/zero or a runaway file stops here.
MAX_INPUT = 4 * 1024 * 1024


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT) -> str:
    """Return a UTF-8 input file's text; InputError (exit 2) names it and what is wrong."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory; give a file.") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror}).") from None
    if len(raw) > limit:
        raise InputError(
            f"{what} {path} is larger than {limit // (1024 * 1024)} MiB, the most qbroles "
            "reads; check the path."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8."
        ) from None


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice: which value was meant is anyone's guess."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing one that names a key twice (json.loads keeps the last)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def check_encodable(text: str, form: str) -> None:
    """Refuse text a file of this form (TOML, YAML) cannot hold: a lone surrogate."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise InputError(f"{text!r} holds a lone surrogate, which {form} cannot hold.")


def write_new(path: str, text: str, *, force: bool = False) -> None:
    """Write a file that must not exist yet, unless ``force``; never leave half a file.

    Only a regular file is ever replaced (its mode kept); a link, device, FIFO or socket
    is refused, whatever ``force`` says. A new file gets the mode the umask allows.
    """
    target = Path(path)
    try:
        found = os.lstat(target)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise InputError(f"cannot look at {path} ({exc.strerror}).") from None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise InputError(f"{path} is a directory; give the path of the file to write.")
    if found is not None and not stat.S_ISREG(found.st_mode):
        kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a regular file")
        raise SafetyError(
            f"{path} is {kind}, and qbroles replaces only regular files; give another path."
        )
    if found is not None and not force:
        raise SafetyError(
            f"{path} exists and qbroles will not overwrite it; pass --force to replace "
            "it, or give another path."
        )
    if not target.parent.is_dir():
        raise InputError(f"the directory of {path} does not exist; create it first.")
    handle, temporary = _temporary(target, path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            if found is not None:
                os.fchmod(out.fileno(), stat.S_IMODE(found.st_mode))
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
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _temporary(target: Path, path: str) -> tuple[int, str]:
    """Create a new temporary file beside the target, mode 0666 less the umask."""
    import secrets

    for _ in range(100):
        name = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(
                f"cannot write {path} ({exc.strerror}); choose a folder you can write to."
            ) from None
    raise InputError(f"cannot write {path}: no free temporary name beside it.")
