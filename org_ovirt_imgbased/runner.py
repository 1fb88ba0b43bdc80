"""The one place external commands run, and where file changes honour --dry.

Every command is an argument list (never a shell string).  With ``debug``
each command and its output are logged; with ``dry`` commands that change
something are printed instead of run, while read-only queries still run so
that plans stay accurate.  A failed command becomes a ``CommandError``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandError, ImgbaseError

log = logging.getLogger("imgbased")


def setup_logging(prog: str, debug: bool) -> None:
    """Send imgbased's log to stderr as `prog: message`; other libraries' logs only on errors."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    for old in list(log.handlers):  # idempotent: main() may run more than once in a process
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.propagate = False
    logging.basicConfig(level=logging.ERROR, format=f"{prog}: %(name)s: %(message)s", stream=sys.stderr)


def guarded(prog: str, debug: bool, body: Callable[[], int]) -> int:
    """Run a CLI body: expected errors as one line (exit 1), others without a traceback unless debug."""
    try:
        return body()
    except ImgbaseError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        if debug and exc.detail:
            print(exc.detail.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, the traceback only with --debug
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 70


@dataclass
class Result:
    """What a command did: its arguments, exit status and output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Run external commands and file changes, logging them and honouring dry mode."""

    def __init__(self, dry: bool = False, out=None) -> None:
        """Create a runner; out receives the dry-mode plan (stdout by default)."""
        self.dry = dry
        self.out = out or sys.stdout

    def plan(self, text: str) -> None:
        """Print one step that dry mode skips."""
        print(f"dry: {text}", file=self.out)

    def run(self, argv: Sequence[str], *, check: bool = True, readonly: bool = False,
            input: str | None = None, env: Mapping[str, str] | None = None,
            capture: bool = True) -> Result:
        """Run argv; in dry mode only print it unless readonly is set."""
        argv = [str(a) for a in argv]
        if self.dry and not readonly:
            self.plan(shlex.join(argv))
            return Result(argv, 0, "", "")
        log.debug("run: %s", shlex.join(argv))
        full_env = {**os.environ, **env} if env else None
        try:
            proc = subprocess.run(argv, input=input, env=full_env, text=True,
                                  capture_output=capture, check=False)
        except FileNotFoundError:
            raise ImgbaseError(f"{argv[0]} is not installed; install the package that provides it") \
                from None
        res = Result(argv, proc.returncode, proc.stdout or "", proc.stderr or "")
        if capture and (res.stdout or res.stderr):
            log.debug("exit %d\nstdout: %s\nstderr: %s", res.returncode, res.stdout.rstrip(),
                      res.stderr.rstrip())
        if check and res.returncode != 0:
            raise CommandError(argv, res.returncode, res.stderr)
        return res

    def query(self, argv: Sequence[str], *, check: bool = True) -> str:
        """Run a read-only command (also in dry mode) and return its stdout."""
        return self.run(argv, check=check, readonly=True).stdout

    def query_json(self, argv: Sequence[str]) -> dict:
        """Run a read-only command that prints JSON and return the parsed object."""
        text = self.query(argv)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImgbaseError(f"{argv[0]} printed output that is not JSON: {exc}",
                               detail=text) from None

    def write_file(self, path: Path, data: str | bytes, mode: int = 0o644) -> None:
        """Replace path atomically: temp file in the same directory, fsync, rename."""
        path = Path(path)
        if self.dry:
            self.plan(f"write {path}")
            return
        log.debug("write: %s", path)
        raw = data.encode() if isinstance(data, str) else data
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def remove(self, path: Path) -> None:
        """Remove a file or a directory tree if it exists."""
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            return
        if self.dry:
            self.plan(f"remove {path}")
            return
        log.debug("remove: %s", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()

    def makedirs(self, path: Path, mode: int = 0o755) -> None:
        """Create a directory and its parents if missing."""
        path = Path(path)
        if path.is_dir():
            return
        if self.dry:
            self.plan(f"mkdir {path}")
            return
        path.mkdir(mode=mode, parents=True, exist_ok=True)

    def copy_file(self, src: Path, dst: Path) -> None:
        """Copy a regular file with its mode, then fsync it."""
        if self.dry:
            self.plan(f"copy {src} -> {dst}")
            return
        log.debug("copy: %s -> %s", src, dst)
        shutil.copy2(src, dst)
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
