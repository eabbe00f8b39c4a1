"""File helpers used by every command: atomic writes, JSON in and out, and the one rule for
outputs that already exist.

The output rule (written once here, read by every command):

- An output folder ofa-mcu writes gets a manifest, ``.ofa-mcu-output.json``, at its root that
  lists every file it wrote there. That is how a later run recognises ofa-mcu's own output.
- An absent or empty output is written. A non-empty output folder is replaced only with
  ``--force`` and only when its manifest (or an ancestor's) says ofa-mcu wrote it; then only
  the listed files are replaced or removed: files the user added are kept. Any other
  non-empty folder is refused, with or without ``--force``.
- An output may never contain (or be) one of the command's inputs.
- Folder outputs are built in a hidden sibling ``.NAME.ofa-mcu-tmp-PID-XXXX`` and moved into
  place only when the command succeeded; a temporary folder of a run that died (its process
  is gone) is removed, and named, by the next run writing the same output.
- A single output file the user named (``--out x.pth``) is overwritten with ``--force``.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

from .errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)

OUTPUT_MANIFEST = ".ofa-mcu-output.json"
OUTPUT_FORMAT = "ofa-mcu-output/1"
# Files that mark a folder as written by ofa-mcu for the writers that fill a folder in place
# (a firmware project's flash manifest, a training run's settings) besides OUTPUT_MANIFEST.
KNOWN_MANIFESTS = (OUTPUT_MANIFEST, "ofa-mcu.json", "train_config.json")
TMP_TAG = "ofa-mcu-tmp"
# Hidden siblings of an output that older versions (no process id in the name) left behind.
_LEGACY_TMP = re.compile(r"\.(build|tmp)-[A-Za-z0-9_]{8}")
_LEGACY_OLD = re.compile(r"\.old(-[A-Za-z0-9_]{8})?")
# Folders being filled by this process (staging in or under them writes straight into them).
_ACTIVE: set[Path] = set()


def _in_active(path: Path) -> bool:
    return any(a == path or a in path.parents for a in _ACTIVE)


# ---- atomic files --------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary file name beside ``path`` for a writer that takes a file name (an
    exporter, a compiler, a download): it becomes ``path`` by a rename when the block ends
    normally and is removed otherwise, so ``path`` is never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # the writer creates it (some refuse an existing file)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would stay; outputs get normal permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (gzip-compressed when the name ends in ``.gz``)."""
    data = json.dumps(obj, indent=indent).encode("utf-8")
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON (or ``.json.gz``) file; a missing or malformed file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} does not exist; check the path")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except RecursionError:
        raise UserError(f"{what} {str(path)!r} nests its lists or objects too deeply to be read; fix or "
                        f"regenerate it") from None
    except (OSError, ValueError, EOFError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{what} {str(path)!r} is not valid JSON ({first}); fix or regenerate it") from None


# ---- paths ---------------------------------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing ancestor of ``path`` (itself when it exists); a file in the way
    (an ancestor that is not a folder) is a UserError."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe != path and not probe.is_dir():
        raise UserError(f"cannot write {str(path)!r}: {str(probe)!r} is a file, not a folder; choose another path")
    return probe


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` made absolute, after checking it can be created: no file where a folder of
    its path should be, and the folders it is written into accept new files (tried with a
    temporary file, so read-only mounts and missing permissions show up before any work)."""
    path = Path(path).absolute()
    _existing_ancestor(path)
    folders = [_existing_ancestor(path.parent)] + ([path] if path.is_dir() else [])
    for folder in folders:
        try:
            fd, probe = tempfile.mkstemp(prefix=".ofa-mcu-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UserError(f"cannot write the {what} {str(path)!r}: {str(folder)!r} does not accept new files "
                            f"({exc.strerror or exc}); choose a writable path") from None
    return path


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_not_an_input(out: str | os.PathLike, inputs: Iterable, what: str = "output") -> None:
    """A UserError when an input lies at or inside ``out`` (writing there could destroy it)."""
    out_r = Path(out).resolve()
    for item in inputs:
        if item is None:
            continue
        src = Path(item).resolve()
        if _inside(src, out_r):
            raise UserError(f"the {what} {str(out)!r} holds the input {str(item)!r}; choose an output path that "
                            f"does not contain the command's inputs")


# ---- the manifest of what ofa-mcu wrote -------------------------------------------------


def read_output_manifest(folder: str | os.PathLike) -> set[str] | None:
    """The files (POSIX paths relative to ``folder``) its ``.ofa-mcu-output.json`` lists, or
    None when it has none (or an unreadable one)."""
    path = Path(folder) / OUTPUT_MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("format") != OUTPUT_FORMAT or not all(isinstance(f, str) for f in files):
            return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    # only paths that stay inside the folder: a doctored list must not reach anything else
    return {f for f in files if stays_inside(f)}


def _write_output_manifest(folder: Path, files: Iterable[str], kind: str) -> None:
    from . import __version__

    write_json(folder / OUTPUT_MANIFEST, {"format": OUTPUT_FORMAT, "written_by": f"ofa-mcu {__version__}",
                                          "kind": kind, "files": sorted(set(files))})


def owned_files(folder: str | os.PathLike) -> set[str] | None:
    """Files under ``folder`` (relative to it) that ofa-mcu wrote, from the manifest of
    ``folder`` or of the nearest ancestor that lists files in it; None when none does."""
    folder = Path(folder).resolve()
    for root in (folder, *folder.parents):
        listed = read_output_manifest(root)
        if listed is None:
            continue
        if root == folder:
            return listed
        prefix = folder.relative_to(root).as_posix() + "/"
        return {f[len(prefix):] for f in listed if f.startswith(prefix)} or None
    return None


def record_outputs(folder: str | os.PathLike, files: Iterable[str], kind: str = "files") -> None:
    """Add ``files`` (relative to ``folder``) to the manifest that covers ``folder`` (its own or
    an ancestor's), or start one in ``folder``, so a later ``--force`` may replace them."""
    if _in_active(Path(folder).absolute()):
        return  # the staged folder's commit lists every file in it
    folder = Path(folder).resolve()
    for root in (folder, *folder.parents):
        listed = read_output_manifest(root)
        if listed is not None:
            rel = folder.relative_to(root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            _write_output_manifest(root, listed | {prefix + f for f in files}, kind)
            return
    _write_output_manifest(folder, files, kind)


def _files_under(folder: Path) -> list[str]:
    out = []
    for dirpath, _, names in os.walk(folder):
        for n in names:
            rel = (Path(dirpath) / n).relative_to(folder).as_posix()
            if rel != OUTPUT_MANIFEST:
                out.append(rel)
    return sorted(out)


def _user_entries(folder: Path, listed: set[str]) -> list[str]:
    """Entries of ``folder`` no manifest lists (the user's), topmost only: a folder holding no
    listed file is one entry."""
    out: list[str] = []

    def walk(d: Path, rel: str) -> None:
        for entry in sorted(d.iterdir(), key=lambda p: p.name):
            r = f"{rel}{entry.name}"
            if r == OUTPUT_MANIFEST:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if any(f.startswith(r + "/") for f in listed):
                    walk(entry, r + "/")
                else:
                    out.append(r + "/")
            elif r not in listed:
                out.append(r)

    walk(folder, "")
    return out


# ---- existing outputs -------------------------------------------------------------------------


def check_output_folder(out: str | os.PathLike, force: bool, *, inputs: Iterable = (),
                        what: str = "output folder") -> Path:
    """Check, before any work, that ``out`` may be written as a folder: not a file, not holding
    an input, writable, and absent, empty, or (with ``force``) ofa-mcu's own output. Returns
    ``out`` made absolute."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"the {what} {str(out)!r} is a file; choose a folder path")
    check_not_an_input(path, inputs, what)
    path = check_writable(path, what)
    if path.is_dir() and not _in_active(path) and any(path.iterdir()):
        listed = owned_files(path)
        if listed is None:
            raise UserError(f"the {what} {str(out)!r} is not empty and was not written by ofa-mcu (it has no "
                            f"{OUTPUT_MANIFEST}); choose another path or empty it (--force never replaces "
                            f"files ofa-mcu did not write)")
        if not force:
            raise UserError(f"the {what} {str(out)!r} already exists; choose another path or pass --force to "
                            f"replace what ofa-mcu wrote there (other files are kept)")
        # A user's entry where the earlier output had files: the new one will want them too, so
        # say so now rather than after the work (the commit checks the actual files again).
        clash = _in_the_way(sorted(listed), [u for u in _user_entries(path, listed)
                                             if not (path / u.rstrip("/")).is_symlink()])  # links: the commit decides
        if clash:
            raise UserError(f"{str(path / clash.rstrip('/'))!r} is in the way: it was not written by ofa-mcu and "
                            f"the earlier output had files there; move it away and run again")
    return path


def check_output_file(path: str | os.PathLike, force: bool, *, inputs: Iterable = (),
                      what: str = "output file") -> Path:
    """Check, before any work, that the file ``path`` may be written: not a folder, not an
    input, writable, and absent unless ``force``. Returns it made absolute."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"the {what} {str(path)!r} is a folder; give a file path")
    check_not_an_input(p, inputs, what)
    p = check_writable(p, what)
    if p.exists() and not force:
        raise UserError(f"the {what} {str(path)!r} already exists; choose another path or pass --force to overwrite it")
    return p


def refuse_clobber(path: str | os.PathLike, force: bool, what: str = "output") -> None:
    """For writers that fill ``path`` in place: raise unless it is absent, an empty folder,
    or (with ``force``) a file, or a folder ofa-mcu wrote (it holds one of KNOWN_MANIFESTS).
    Also refuses a path that cannot be written (a file in the way, no permission)."""
    p = Path(path)
    check_writable(p, what)
    if p.is_dir():
        if not any(p.iterdir()):
            return
        if not force:
            raise UserError(f"{what} {str(p)!r} already exists; choose another path or pass --force to overwrite it")
        if owned_files(p) is None and not any((p / m).is_file() for m in KNOWN_MANIFESTS):
            raise UserError(f"{what} {str(p)!r} is not empty and was not written by ofa-mcu; choose another path "
                            f"or empty it (--force never replaces files ofa-mcu did not write)")
    elif p.exists() and not force:
        raise UserError(f"{what} {str(p)!r} already exists; choose another path or pass --force to overwrite it")


def check_overwrite(paths: Iterable[str | os.PathLike], force: bool, what: str = "output file") -> None:
    """For writers that put named files into a folder in place: an existing one is replaced
    only with ``force`` and only if a manifest lists it (ofa-mcu wrote it)."""
    for p in map(Path, paths):
        if not p.exists():
            continue
        if not force:
            raise UserError(f"{what} {str(p)!r} already exists; choose another --out folder or pass --force to "
                            f"overwrite it")
        owned = owned_files(p.parent)
        if owned is None or p.name not in owned:
            raise UserError(f"{what} {str(p)!r} was not written by ofa-mcu; --force does not replace it: move it "
                            f"away or choose another --out folder")


# ---- temporary folders ------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(out: str | os.PathLike, report: bool = True) -> list[str]:
    """Remove the temporary siblings of ``out`` that runs which died left behind (their
    process is gone); an older version's leftover that held the previous output while ``out``
    is missing is put back. Returns the names, also printed to stderr when ``report``."""
    out = Path(out).absolute()
    parent = out.parent
    if not parent.is_dir():
        return []
    ours = re.compile(rf"\.{re.escape(out.name)}\.{TMP_TAG}-(\d+)-[A-Za-z0-9_]+")
    done = []
    for entry in sorted(parent.iterdir()):
        name = entry.name
        if not name.startswith(f".{out.name}.") or not entry.is_dir() or entry.is_symlink():
            continue
        tail = name[len(out.name) + 1:]
        m = ours.fullmatch(name)
        if m:
            if _alive(int(m.group(1))):
                continue
        elif _LEGACY_OLD.fullmatch(tail):
            if not out.exists():
                os.rename(entry, out)
                done.append(f"{name} (restored as {out.name})")
                continue
        elif not _LEGACY_TMP.fullmatch(tail):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        done.append(name)
    if done and report:
        print(f"ofa-mcu: removed {len(done)} temporary folder(s) that interrupted runs left beside "
              f"{str(out)!r}: {', '.join(done)}", file=sys.stderr)
    return done


def _new_temp(out: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{TMP_TAG}-{os.getpid()}-", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    return tmp


def _prune_empty(path: Path, stop: Path) -> None:
    while path != stop and stop in path.parents:
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent


def _in_the_way(new: Iterable[str], user: Iterable[str]) -> str | None:
    """The first of the user's entries (``_user_entries``: files, and folders with a trailing
    ``/``) that a new file would replace or sit inside or under, or None."""
    user = set(user)
    for f in new:
        parts = f.split("/")
        for i in range(1, len(parts) + 1):  # the file itself and each folder above it
            here = "/".join(parts[:i])
            for entry in (here, here + "/"):
                if entry in user:
                    return entry
        for u in sorted(user):  # a new file where the user has a folder of files
            if u.startswith(f + "/"):
                return u
    return None


def _commit(tmp: Path, out: Path, kind: str) -> None:
    """Move the finished ``tmp`` into place as ``out`` (see the module docstring)."""
    new = _files_under(tmp)
    _write_output_manifest(tmp, new, kind)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
        return
    listed = owned_files(out)
    if listed is None:  # the manifest vanished while we worked
        raise UserError(f"{str(out)!r} changed while ofa-mcu worked (its {OUTPUT_MANIFEST} is gone); "
                        "nothing was replaced: run again")
    clash = _in_the_way(new, _user_entries(out, listed))
    if clash:
        raise UserError(f"{str(out / clash.rstrip('/'))!r} is in the way: it was not written by ofa-mcu and the new "
                        f"output has a file there; move it away and run again (nothing was replaced)")
    new_set = set(new)
    # Everything that may exist from now on is listed, so a crash leaves nothing unaccounted for.
    _write_output_manifest(out, listed | new_set, kind)
    root = out.resolve()
    for rel in sorted(listed - new_set):
        target = out / rel
        if root not in target.parent.resolve().parents and target.parent.resolve() != root:
            continue  # reached through a symlinked folder: not ours to delete
        if target.is_file() or target.is_symlink():
            target.unlink()
            _prune_empty(target.parent, out)
    for rel in new:
        target = out / rel
        if target.is_dir() and not target.is_symlink():  # an emptied folder of the old output
            target.rmdir()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, target)
    os.replace(tmp / OUTPUT_MANIFEST, out / OUTPUT_MANIFEST)
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_output(out: str | os.PathLike, force: bool, *, inputs: Iterable = (), what: str = "output folder",
                  kind: str = "output") -> Iterator[Path]:
    """Yield a temporary folder to fill; when the block ends normally its files become
    ``out`` (see the module docstring for the rule on an existing ``out``). A failure or an
    interrupt leaves ``out`` as it was. Checks run before the block, so before any work."""
    out_abs = Path(out).absolute()
    if _in_active(out_abs):  # inside a folder being staged: that folder's commit covers this one
        out_abs.mkdir(parents=True, exist_ok=True)
        yield out_abs
        return
    check_output_folder(out, force, inputs=inputs, what=what)
    clean_stale_temps(out_abs)
    made = [p for p in (out_abs.parent, *out_abs.parent.parents) if not p.exists()]
    out_abs.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(out_abs)
    _ACTIVE.add(tmp)
    try:
        yield tmp
        _commit(tmp, out_abs, kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # the parents this run created, so a failure leaves nothing behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        _ACTIVE.discard(tmp)


def stays_inside(path: str) -> bool:
    """Whether the POSIX path ``path`` is relative and stays inside the folder it is relative to
    (no leading ``/``, no ``..``, not empty)."""
    p = PurePosixPath(path)
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts


def safe_relpath(path: str) -> str:
    """``path`` as a relative POSIX path that stays inside its folder (else a UserError)."""
    p = PurePosixPath(path)
    if not stays_inside(path):
        raise UserError(f"output file path {path!r} must be relative and stay inside the output folder")
    return str(p)


def write_tree_atomically(out: str | os.PathLike, files: dict[str, bytes], force: bool, *,
                          inputs: Iterable = (), what: str = "output folder", kind: str = "output") -> Path:
    """Write ``files`` (``{relative path: bytes}``) as the folder ``out`` through
    :func:`staged_output`. Returns ``out`` made absolute."""
    with staged_output(out, force, inputs=inputs, what=what, kind=kind) as tmp:
        for rel, data in sorted(files.items()):
            path = tmp / safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return Path(out).absolute()
