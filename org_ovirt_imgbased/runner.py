# SPDX-License-Identifier: GPL-2.0-or-later
"""The one place external commands run, and where file changes honour --dry.

Every command is an argument list (never a shell string).  With ``debug``
each command and its output are logged; with ``dry`` commands that change
something are printed instead of run, while read-only queries still run so
that plans stay accurate.  A failed command becomes a ``CommandError``.  Every command runs
with ``COMMAND_ENV`` (the C locale) over the caller's environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import CommandError, CommandTimeout, ImgbaseError
from org_ovirt_imgbased.redact import redact

log = logging.getLogger(__name__)

#: The environment policy for every external command: the caller's environment with the C
#: locale, so the output imgbased parses (lvm2, e2fsprogs, mount, grub tools) never depends on
#: the operator's language; a call's own env entries are added on top.
COMMAND_ENV = {"LC_ALL": "C"}


def fsync_dir(path: str | Path, missing_ok: bool = False) -> None:
    """Make the entries of a directory durable (a rename in it survives a power cut).

    The one place directories are flushed; with missing_ok a directory that is gone is skipped.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    """The name of write_file's temporary file for a file called name: .NAME.<12 hex>.tmp."""
    return f".{name}.{secrets.token_hex(6)}.tmp"


def stale_temps(path: Path) -> list[Path]:
    """Regular files beside path that write_file made for it and a kill left behind (exact name pattern)."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}\.tmp")
    try:
        names = sorted(os.listdir(path.parent))
    except OSError:
        return []
    found = []
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(path.parent / name).st_mode):
                    found.append(path.parent / name)
    return found


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of data to fd (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _open_beneath(root: Path, relative: Path, create: bool) -> int:
    """A descriptor of root/relative, refusing a symlink or non-directory on the way (no escape)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    done = Path("/")
    try:
        for part in relative.parts:
            done = done / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a file; ENOENT: missing
                raise ImgbaseError(f"{done} in {root} is a symlink, not a directory or missing "
                                   f"({exc.strerror}), so nothing is written there; make it a plain "
                                   "directory in the image") from None
            os.close(fd)
            fd = sub
        return fd
    except BaseException:
        os.close(fd)
        raise


def _spawn(argv: list[str], input: str | None, env: dict[str, str], capture: bool,
           timeout: float | None) -> Result:
    """Run argv to its end; with timeout, in its own process group, killed whole when it overstays."""
    if timeout is None:
        proc = subprocess.run(argv, input=input, env=env, text=True, errors="replace",
                              capture_output=capture, check=False)
        return Result(argv, proc.returncode, proc.stdout or "", proc.stderr or "")
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else None, stdout=pipe,
                          stderr=pipe, env=env, text=True, errors="replace", start_new_session=True) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except BaseException as exc:  # the time is up, or imgbase itself is interrupted
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)  # a child that left the group may still hold a pipe
            if isinstance(exc, subprocess.TimeoutExpired):
                raise CommandTimeout(argv, timeout) from None
            raise
    return Result(argv, proc.returncode, out or "", err or "")


def _command_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a command: the caller's, the C locale, then the call's own entries."""
    return {**os.environ, **COMMAND_ENV, **(env or {})}


def _not_installed(argv: list[str]) -> ImgbaseError:
    """The one-line error for a command that is not on this system."""
    return ImgbaseError(f"{argv[0]} is not installed; install the package that provides it")


def _log_result(res: Result) -> None:
    """Log a finished command's exit status and output (with --debug)."""
    if res.stdout or res.stderr:
        log.debug("exit %d\nstdout: %s\nstderr: %s", res.returncode, redact(res.stdout.rstrip()),
                  redact(res.stderr.rstrip()))


def _checked(res: Result, check: bool) -> Result:
    """res itself, or CommandError when check is set and the command failed."""
    if check and res.returncode != 0:
        raise CommandError(res.argv, res.returncode, res.stderr)
    return res


def _drain(stream, into: list[bytes]) -> threading.Thread:
    """Read stream to its end on a thread, appending to into (so a chatty command never blocks)."""
    def read() -> None:
        """Collect every chunk until end of file."""
        while chunk := stream.read(65536):
            into.append(chunk)
        stream.close()
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@dataclass
class Result:
    """What a command did: its arguments, exit status and output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Feed:
    """A running command whose stdin the caller writes in pieces; see Runner.feed.

    stdout and stderr are read on threads, so a command that prints a lot never blocks.  Once
    the command has stopped reading (it exited early: EPIPE), further writes are discarded and
    its own exit status and stderr say why.
    """

    def __init__(self, argv: list[str], env: dict[str, str] | None, check: bool) -> None:
        """Start argv with env; env None (dry mode) starts nothing and discards every write."""
        self.argv, self.check = argv, check
        self.result: Result | None = None
        self.stopped_reading = False
        self._proc: subprocess.Popen | None = None
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads: list[threading.Thread] = []
        if env is None:
            return
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env, bufsize=0)
        except FileNotFoundError:
            raise _not_installed(argv) from None
        self._threads = [_drain(self._proc.stdout, self._out), _drain(self._proc.stderr, self._err)]

    def write(self, data: bytes) -> None:
        """Pass data to the command's stdin (discarded in dry mode or once it stopped reading)."""
        if self._proc is None or self.stopped_reading or self.result is not None:
            return
        try:
            write_all(self._proc.stdin.fileno(), data)
        except BrokenPipeError:
            self.stopped_reading = True

    def finish(self) -> Result:
        """Close stdin, wait for the command and return its Result (CommandError if check and it failed)."""
        if self.result is None:
            self.result = self._end(kill=False)
            _log_result(self.result)
        return _checked(self.result, self.check)

    def kill(self) -> None:
        """Stop the command at once, without an error (the stream was abandoned)."""
        if self.result is None:
            self.result = self._end(kill=True)

    def _end(self, kill: bool) -> Result:
        """Close stdin (killing the command first if asked), reap it and collect its output."""
        if self._proc is None:
            return Result(self.argv, 0, "", "")
        if kill:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        returncode = self._proc.wait()
        for thread in self._threads:
            thread.join()
        return Result(self.argv, returncode, b"".join(self._out).decode(errors="replace"),
                      b"".join(self._err).decode(errors="replace"))

    def __enter__(self) -> Feed:
        """The feed itself, to write to."""
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Finish normally, or kill the command when the block raised."""
        if exc_type is None:
            self.finish()
        else:
            self.kill()


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
            capture: bool = True, timeout: float | None = None) -> Result:
        """Run argv; in dry mode only print it unless readonly is set.

        With timeout (seconds), a command still running then is killed with its whole process
        group and CommandTimeout is raised.
        """
        argv = [str(a) for a in argv]
        if self.dry and not readonly:
            self.plan(redact(shlex.join(argv)))
            return Result(argv, 0, "", "")
        log.debug("run: %s", redact(shlex.join(argv)))
        try:
            res = _spawn(argv, input, _command_env(env), capture, timeout)
        except FileNotFoundError:
            raise _not_installed(argv) from None
        if capture:
            _log_result(res)
        return _checked(res, check)

    def feed(self, argv: Sequence[str], *, check: bool = True, readonly: bool = False,
             env: Mapping[str, str] | None = None) -> Feed:
        """Start argv with a stdin the caller writes piece by piece: ``with runner.feed(argv) as f``.

        Leaving the block closes stdin and waits (f.result then holds the Result, and a failure
        raises CommandError as run does); an exception in the block kills the command instead.
        In dry mode, unless readonly, the command is only printed and writes are discarded.
        """
        argv = [str(a) for a in argv]
        if self.dry and not readonly:
            self.plan(redact(shlex.join(argv)))
            return Feed(argv, None, check)
        log.debug("run: %s (stdin streamed)", redact(shlex.join(argv)))
        return Feed(argv, _command_env(env), check)

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

    def write_file(self, path: Path, data: str | bytes, mode: int = 0o644, *, beneath: Path | None = None,
                   make_dirs: bool = False) -> None:
        """Replace path atomically: temp file in the same directory, fsync, rename, fsync the directory.

        With beneath (a target root such as a new layer), path must lie inside it and no symlink
        is followed on the way: each directory from beneath down is opened with O_NOFOLLOW
        (created with make_dirs), so an image cannot redirect the write out of its root.
        """
        path = Path(path)
        if self.dry:
            self.plan(f"write {path}")
            return
        log.debug("write: %s", path)
        raw = data.encode() if isinstance(data, str) else data
        rel = path.relative_to(beneath) if beneath is not None else None
        dfd = (_open_beneath(Path(beneath), rel.parent, make_dirs) if rel is not None
               else os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY))
        tmp = temp_name(path.name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
            try:
                write_all(fd, raw)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        finally:
            os.close(dfd)

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
        """Create a directory and its parents if missing; each new entry is fsynced into its parent."""
        path = Path(path)
        if path.is_dir():
            return
        if self.dry:
            self.plan(f"mkdir {path}")
            return
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        for created in reversed(missing):
            fsync_dir(created.parent)

    def copy_file(self, src: Path, dst: Path) -> None:
        """Copy a regular file with its mode durably: a temporary copy, fsync, rename, fsync the directory.

        On a vfat /boot a new name is only on disk once its directory is, so a crash leaves
        either no file or the whole file, never a short kernel under the final name.
        """
        if self.dry:
            self.plan(f"copy {src} -> {dst}")
            return
        log.debug("copy: %s -> %s", src, dst)
        dst = Path(dst)
        tmp = dst.with_name(f".{dst.name}.imgbased-tmp")
        try:
            shutil.copy2(src, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(dst.parent)
