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


def parse_json(text: str) -> Any:
    """Parse JSON as the files qbroles reads must be: ValueError says what is not.

    Refused besides what the JSON standard refuses: a key twice in one object, and the
    numbers Python's parser takes but JSON has not (NaN, Infinity, and numbers too large
    for a float, such as 1e400, which would become Infinity and be written back as no
    JSON reader takes it; RFC 8259, section 6: "Numeric values that cannot be
    represented ... (such as Infinity and NaN) are not permitted").
    """
    import json
    import math

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{number} is too large for a JSON number")
        return value

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(
            text, object_pairs_hook=unique_keys, parse_float=finite, parse_constant=constant
        )
    except RecursionError:
        raise ValueError("it nests too deeply") from None


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


def write_new(path: str, text: str, *, force: bool = False, mode: int = 0o666) -> None:
    """Write a file that must not exist yet, unless ``force``; never leave half a file.

    Only a regular file is ever replaced (its mode kept); a link, device, FIFO or socket
    is refused, whatever ``force`` says. A new file gets ``mode`` less the umask.
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
    handle, temporary = _temporary(target, path, mode)
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


def _temporary(target: Path, path: str, mode: int) -> tuple[int, str]:
    """Create a new temporary file beside the target, ``mode`` less the umask."""
    import secrets

    for _ in range(100):
        name = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), name
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(
                f"cannot write {path} ({exc.strerror}); choose a folder you can write to."
            ) from None
    raise InputError(f"cannot write {path}: no free temporary name beside it.")


def private_folder(name: str, instead: str) -> Path:
    """Return the folder ``name``, made 0700 if it is not there; refuse (SafetyError) one
    that someone else could change: a symbolic link, not a directory, another user's, or
    writable by its group or by everyone. What goes in it is the caller's to keep private;
    ``instead`` says how to do without the folder.
    """
    folder = Path(name)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(
            f"cannot make the folder {name} ({exc.strerror}); {instead}, or run from a "
            "folder you can write to."
        ) from None
    found = os.lstat(folder)
    why = None
    if stat.S_ISLNK(found.st_mode):
        why = "is a symbolic link"
    elif not stat.S_ISDIR(found.st_mode):
        why = "is not a directory"
    elif found.st_uid != os.getuid():
        why = f"belongs to another user (uid {found.st_uid})"
    elif found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = f"can be written by others (mode {stat.S_IMODE(found.st_mode):o})"
    if why:
        raise SafetyError(
            f"the folder {name} {why}, so qbroles will not keep policy documents in it; "
            f"remove or fix it (chmod 700 {name}), or {instead}."
        )
    return folder
