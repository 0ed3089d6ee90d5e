"""Run untrusted, model-written Python programs and report pass/fail, behind a real security boundary.

`isolation()` picks a tier once per process, by running a probe program through each:
* "namespaces" (root with CAP_SYS_ADMIN, as in CI): fresh pid, network, mount and IPC namespaces; the program runs as
  an unprivileged uid of its own with no_new_privs under a root pid 1 that only waits; all mounts are read-only but a
  private tmpfs /tmp (the working directory) and /dev/shm; /run is hidden; the network is a downed loopback. When
  pid 1 ends or is killed, the kernel kills everything left in the namespace, setsid or not.
* "audit-hook" (fallback): a CPython audit hook denies sockets, process creation, signals, native code and writes
  outside a host temp dir; the uid is dropped where that works. Audit hooks are no security boundary (PEP 578).
Both add CPU, memory, file-size, process and wall-clock limits, a scrubbed environment and capped output; the hook
also reports network attempts, as reason "blocked", in both.
"""
# This file is also the child's bootstrap, which runs down to the `__main__` guard only: imports above the guard
# cost every run, so the host's come after it.
from __future__ import annotations

import codecs
import os
import sys

_UID_BASE, _UID_SLOTS = 64200, 256  # a uid per concurrent run, so RLIMIT_NPROC counts that run alone
_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWPID, _CLONE_NEWNET = 0x20000, 0x8000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
_KEEP_FLAGS = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}
_DENY_EVENTS = frozenset({  # this and the next three are for the audit-hook tier only
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.system", "subprocess.Popen", "os.kill", "os.killpg",
    "signal.pthread_kill", "os.chdir", "code.__new__", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "sys._current_frames"})  # not marshal.loads: every import of a .pyc uses it
_DENY_IMPORTS = frozenset({"_ctypes", "_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels"})
_FS_EVENTS = frozenset({  # shutil and tempfile work through these and "open"
    "os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.link", "os.symlink", "os.chmod", "os.chown", "os.utime",
    "os.truncate", "os.setxattr", "os.removexattr"})
_PROC_SECRETS = frozenset({  # /proc/<pid>/ entries that leak other processes' secrets to a program left as root
    "environ", "mem", "fd", "cmdline", "root", "cwd", "map_files", "task"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _child_main(argv: list[str]) -> int:
    """Bootstrap, as root: isolate, fork the waiter(s) and the program, which drops privileges and runs."""
    control, report, uid, cpu_s, memory_mb, file_mb, max_procs = map(int, argv[:7])
    tier, workdir = argv[7], argv[8]
    source = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    call = _libc() if tier == "namespaces" else None
    if call:  # should the host die, its thread's death kills this bootstrap, and the bootstrap's kills pid 1
        call("prctl", _PR_SET_PDEATHSIG, 9, 0, 0, 0)
        call("unshare", _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC)
    if pid := os.fork():
        _wait_and_exit(control, pid, announce=True)
    if call:  # this is pid 1 of the new namespaces
        call("prctl", _PR_SET_PDEATHSIG, 9, 0, 0, 0)
        _isolate_filesystem(call, uid, file_mb)
        if pid := os.fork():  # the program must not be pid 1, which ignores signals it has no handler for (SIGXCPU...)
            _wait_and_exit(control, pid, announce=False)
    os.close(control)
    import resource

    for limit, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_FSIZE, file_mb << 20),
                         (resource.RLIMIT_NPROC, max_procs), (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(limit, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # SIGXCPU, then SIGKILL if that is caught
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if call:
        call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # setuid binaries cannot hand privileges back
    os.chdir(workdir)
    os.umask(0o077)
    path = os.path.join(workdir, "program.py")  # a real file, so tracebacks show the failing line
    with open(path, "wb") as f:
        f.write(source)
    os.write(report, b"ready\n")
    _install_hook(report, tier != "namespaces", workdir)
    return _run(path, source)


def _wait_and_exit(control: int, pid: int, announce: bool) -> None:
    # Only these trusted waiters hold the control pipe, so the program cannot forge its own exit status.
    if announce:  # the host kills this pid on timeout: pid 1 of the namespaces, or the program itself
        os.write(control, b"pid %d\n" % pid)
    _, status, usage = os.wait4(pid, 0)
    os.write(control, b"exit %d %.3f\n" % (status, usage.ru_utime + usage.ru_stime))
    os._exit(0)


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)

    def call(name: str, *args) -> None:
        if getattr(libc, name)(*(os.fsencode(a) if isinstance(a, str) else a for a in args)) != 0:
            raise OSError(ctypes.get_errno(), f"{name}{args}: {os.strerror(ctypes.get_errno())}")

    return call


def _isolate_filesystem(call, uid: int, file_mb: int) -> None:
    call("mount", None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing below propagates back to the host
    _expose_interpreter(call)
    with open("/proc/self/mountinfo", "rb") as f:
        mounts = [line.split()[4:6] for line in f]
    for target, options in mounts:
        opts = options.decode().split(",")
        if "rw" in opts and os.path.exists(target := codecs.escape_decode(target)[0]):  # "\\040" is a space
            keep = sum(_KEEP_FLAGS.get(o, 0) for o in opts)
            call("mount", None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep, None)
    call("mount", "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)  # shows this pid ns only
    if os.path.isdir("/run"):  # service sockets (dbus, ...) live there, and a network namespace does not hide them
        call("mount", "tmpfs", "/run", "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "size=4k")
    owner = f"mode=0700,uid={uid},gid={uid}" if uid >= 0 else "mode=0700"
    call("mount", "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={2 * file_mb}m,nr_inodes=4096,{owner}")
    if os.path.isdir("/dev/shm"):  # multiprocessing's semaphores live there
        call("mount", "tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={file_mb}m,{owner}")


def _expose_interpreter(call) -> None:
    # After the uid drop the stdlib must stay importable, but pyenv-style installs live under /root (0700): cover
    # the first ancestor others cannot enter with a tmpfs that holds only a bind mount of the interpreter's prefix.
    prefix = os.path.realpath(sys.base_prefix)
    parts = prefix.split("/")
    for ancestor in ("/".join(parts[:i]) for i in range(2, len(parts))):
        if not os.stat(ancestor).st_mode & 0o001:
            keep = os.open(prefix, os.O_PATH)
            os.umask(0o022)
            call("mount", "tmpfs", ancestor, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
            os.makedirs(prefix)
            call("mount", f"/proc/self/fd/{keep}", prefix, None, _MS_BIND | _MS_REC, None)
            break


def _install_hook(report: int, strict: bool, workdir: str) -> None:
    # The hook consults only its default arguments, constants and methods of exact built-in types, never module
    # globals or builtins (the program can rebind those), and no frame keeps it reachable. It denies by raising;
    # the note on the report pipe is best effort.
    def hook(event, args, _write=os.write, _fd=report, _strict=strict, _deny=_DENY_EVENTS, _imports=_DENY_IMPORTS,
             _fs=_FS_EVENTS, _secrets=_PROC_SECRETS, _inside=workdir + "/", _wflags=_WRITE_FLAGS, _str=str,
             _bytes=bytes, _int=int, _tuple=tuple, _type=type, _repr=repr, _oserror=OSError, _err=PermissionError):
        if event.startswith("socket."):  # but creating AF_UNIX sockets (asyncio's pairs) and asking the hostname
            denied = _strict or (args[1] != 1 if event == "socket.__new__" else event != "socket.gethostname")
        elif not _strict:
            return
        elif event == "import":  # str.__str__ turns a str subclass with a doctored __eq__ into a plain str
            denied = _str.__str__(args[0]) in _imports or _str.__str__(args[0]).startswith("_test")
        elif event == "object.__setattr__":
            denied = args[1] == "__code__"
        elif event == "open" or event in _fs:
            if event == "open" and _type(args[0]) is _int:
                return
            # os.open (mode None) counts as a write even to read: a directory fd would let relative paths escape.
            write, denied = event != "open" or args[1] is None or args[2] & _wflags, False
            for arg in args:
                if _type(arg) is _bytes:
                    arg = arg.decode("utf-8", "surrogateescape")
                if _type(arg) is _str:
                    parts = arg.split("/")
                    denied = denied or ".." in parts or ("proc" in parts and not _secrets.isdisjoint(parts)) or (
                        write and arg.startswith("/") and not arg.startswith(_inside))
                elif arg is not None and _type(arg) is not _int and _type(arg) is not _tuple:
                    denied = True  # a path-like could answer differently when the system call asks again
        else:
            denied = event in _deny
        if denied:
            try:
                _write(_fd, b"blocked " + event.encode() + b"\n")
            except _oserror:
                pass
            raise _err("sandbox: " + event + " " + _repr(args[:2])[:200] + " is not allowed")

    sys.addaudithook(hook)


def _run(path: str, source: bytes) -> int:
    del sys.path[0]  # "" from -c
    sys.argv = [path]
    main = type(sys)("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    try:
        exec(compile(source, path, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        sys.excepthook(type(e), e, e.with_traceback(e.__traceback__.tb_next).__traceback__)  # minus this frame
        return 1
    return 0


if __name__ == "__main__":  # run by _BOOT: argv is [-c, length of this file's code, arguments...]
    sys.exit(_child_main(sys.argv[2:]))

import contextlib  # noqa: E402  (host side, see the note at the top)
import functools  # noqa: E402
import marshal  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ThreadPoolExecutor, as_completed  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from inoculate._log import InoculateWarning  # noqa: E402
from inoculate.errors import InoculateError  # noqa: E402


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 5.0  # wall-clock limit
    cpu_s: int = 4  # RLIMIT_CPU, per process
    memory_mb: int = 512  # RLIMIT_AS, per process
    file_mb: int = 8  # RLIMIT_FSIZE; also bounds the captured output on disk, and the private /tmp (2x)
    max_procs: int = 16  # RLIMIT_NPROC for the run's own uid; threads count too
    output_bytes: int = 65536  # stdout/stderr kept at most (the rest discarded, flagged)

    def __post_init__(self):
        for name, low in {"wall_s": 0.01, "cpu_s": 1, "memory_mb": 64, "file_mb": 1, "max_procs": 1,
                          "output_bytes": 0}.items():
            value, kind = getattr(self, name), (int, float) if name == "wall_s" else int
            if isinstance(value, bool) or not isinstance(value, kind) or value < low:
                raise InoculateError(f"must be a number >= {low}, got {value!r}", f"SandboxLimits.{name}")


@dataclass(frozen=True)
class SandboxResult:
    passed: bool  # exit code 0 within all limits
    reason: str  # ok | failed | timeout | memory | output-limit | killed | blocked | error
    exit_code: int | None  # negative: killed by that signal
    stdout: str
    stderr: str  # both truncated to SandboxLimits.output_bytes
    wall_s: float


_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
# Not -I: it implies -E, which would drop the fixed PYTHONHASHSEED (reproducible set order). The environment is
# built from scratch, so -E guards nothing; -s and -S keep site-packages out.
_FLAGS = ("-s", "-S", "-B")
# The base interpreter, not a venv's: -S leaves the venv unused anyway, and the base's prefix is the one that
# _expose_interpreter keeps reachable, so the program can start `sys.executable` itself.
_PYTHON = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
# The child gets this file's code compiled once here, ahead of the program on stdin: compiling it in every child
# would cost each run ~7 ms, and the bytecode cache may be off (PYTHONDONTWRITEBYTECODE).
_BOOT = "import marshal, sys; exec(marshal.loads(sys.stdin.buffer.read(int(sys.argv[1]))))"
_lock, _busy_slots, _isolation_state = threading.RLock(), set(), None  # re-entered: probes take a slot


def isolation() -> dict:
    """The tier in use, probed once per process; `unavailable` says why stronger tiers were passed over."""
    global _isolation_state
    with _lock:
        if _isolation_state is None:
            notes = []
            for tier, drop in (("namespaces", True), ("audit-hook", True), ("audit-hook", False)):
                if not (failure := _probe(tier, drop)):
                    break
                notes.append(f"{tier}{' + uid drop' if drop else ''}: {failure}")
            if tier != "namespaces":
                warnings.warn(f"sandbox: only the best-effort audit-hook tier is available here ({notes[0]})",
                              InoculateWarning)
            _isolation_state = {"tier": tier, "uid_drop": drop, "unavailable": notes}
        state = dict(_isolation_state)
    return {**state, "network": "netns" if state["tier"] == "namespaces" else "audit-hook"}


def network_isolation() -> str:
    """"netns" when runs get an empty network namespace, else "audit-hook" (sockets denied in-process)."""
    return isolation()["network"]


def _probe(tier: str, drop: bool) -> str | None:
    """None if a tier works here (the stdlib must stay importable after the uid drop), else why not."""
    result = _execute("import json, math\nprint(json.dumps(math.pi))", SandboxLimits(wall_s=30), tier, drop)
    return None if result.passed else f"{result.reason}: {(result.stderr.strip().splitlines() or ['-'])[-1]}"


def run_program(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run one program in the sandbox; every outcome of the program, hostile or not, is a SandboxResult."""
    if not isinstance(source, str) or not isinstance(limits, SandboxLimits):
        raise InoculateError("run_program takes a source string and a SandboxLimits", "sandbox.run_program")
    state = isolation()
    return _execute(source, limits, state["tier"], state["uid_drop"])


def run_many(sources: list[str], limits: SandboxLimits = SandboxLimits(), workers: int | None = None,
             progress: bool = False) -> list[SandboxResult]:
    """Run programs in parallel, results in input order. By default 2 workers per CPU, as runs wait on start-up."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InoculateError(f"workers must be a positive integer, got {workers!r}", "sandbox.run_many")
    if not all(isinstance(s, str) for s in sources):
        raise InoculateError("sources must be strings", "sandbox.run_many")
    isolation()  # probe once, before the threads race for it
    with ThreadPoolExecutor(max_workers=workers or 2 * (os.cpu_count() or 1)) as pool:
        futures = [pool.submit(run_program, s, limits) for s in sources]
        if progress:
            from tqdm import tqdm

            for _ in tqdm(as_completed(futures), total=len(futures), desc="sandbox", unit="prog"):
                pass
        return [f.result() for f in futures]


@functools.lru_cache(maxsize=1)
def _boot_code() -> bytes:
    with open(__file__, "rb") as f:
        return marshal.dumps(compile(f.read(), __file__, "exec"))


@contextlib.contextmanager
def _uid_slot(drop: bool):
    with _lock:
        slot = min(set(range(_UID_SLOTS)) - _busy_slots, default=0)  # past 256 concurrent runs, uids are shared
        _busy_slots.add(slot)
    try:
        yield _UID_BASE + slot if drop else -1
    finally:
        with _lock:
            _busy_slots.discard(slot)


def _execute(source: str, limits: SandboxLimits, tier: str, drop: bool) -> SandboxResult:
    start = time.monotonic()
    try:
        with contextlib.ExitStack() as stack, _uid_slot(drop) as uid:
            stdin, stdout, stderr = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(3))
            stdin.write(_boot_code() + source.encode("utf-8", "surrogateescape"))
            stdin.seek(0)
            workdir = "/tmp"  # the private tmpfs
            if tier != "namespaces":
                workdir = os.path.realpath(tempfile.mkdtemp(prefix="inoculate-sandbox-"))
                stack.callback(shutil.rmtree, workdir, ignore_errors=True)
                if uid >= 0:
                    os.chown(workdir, uid, uid)
            (control, control_w), (report, report_w) = os.pipe(), os.pipe()
            stack.callback(os.close, control)
            stack.callback(os.close, report)
            try:
                args = [len(_boot_code()), control_w, report_w, uid, limits.cpu_s, limits.memory_mb, limits.file_mb,
                        limits.max_procs, tier, workdir]
                proc = subprocess.Popen([_PYTHON, *_FLAGS, "-c", _BOOT, *map(str, args)], stdin=stdin,
                                        stdout=stdout, stderr=stderr, cwd="/", start_new_session=True,
                                        env={**_ENV, "HOME": workdir, "TMPDIR": workdir},
                                        pass_fds=(control_w, report_w))
            finally:
                os.close(control_w)
                os.close(report_w)
            timed_out = True  # until shown otherwise, so that an interrupt (Ctrl-C) still kills everything
            try:
                timed_out = not _wait_exit(proc.pid, start + limits.wall_s)
            finally:
                messages = _kill(proc, timed_out, control) + _read_available(report)
            outputs = []
            for f in (stdout, stderr):
                f.seek(0)
                outputs.append(f.read(limits.output_bytes + 1))
    except Exception as e:  # the sandbox itself failed (no disk space, no interpreter, ...): report, never raise
        message = f"sandbox error: {type(e).__name__}: {e}"
        return SandboxResult(False, "error", None, "", message, round(time.monotonic() - start, 4))
    return _classify(messages, timed_out, outputs, limits, time.monotonic() - start)


def _wait_exit(pid: int, deadline: float) -> bool:
    """Whether the child exited by the deadline. It stays unreaped (WNOWAIT), so its pid and group id cannot be
    reused by an unrelated process before _kill has signalled them."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # Linux < 5.3: poll every 5 ms instead
    try:
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if (left := deadline - time.monotonic()) <= 0:
                return False
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.005))
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill(proc: subprocess.Popen, timed_out: bool, control: int) -> bytes:
    # Killing pid 1 of the namespaces makes the kernel kill every process in them; the bootstrap then reaps it and
    # exits. The group kill is the backstop, and what ends the audit-hook tier, where forking is denied.
    messages = _read_available(control)
    if timed_out:
        for line in messages.splitlines():
            if line.startswith(b"pid "):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line.split()[1]), signal.SIGKILL)
        _wait_exit(proc.pid, time.monotonic() + 2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return messages + _read_available(control)


def _read_available(fd: int) -> bytes:
    # Never blocks: a pipe still held open by a stray writer has no end. The first 4 KiB are all that is needed.
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError):
        return os.read(fd, 4096)
    return b""


def _classify(messages: bytes, timed_out: bool, outputs: list[bytes], limits: SandboxLimits,
              wall_s: float) -> SandboxResult:
    lines, exit_code, cpu = messages.splitlines(), None, 0.0
    for line in lines:
        if line.startswith(b"exit ") and exit_code is None:  # the waiter closest to the program reports first
            exit_code, cpu = os.waitstatus_to_exitcode(int(line.split()[1])), float(line.split()[2])
    stdout, stderr = (o[: limits.output_bytes].decode("utf-8", "replace") for o in outputs)
    if b"ready" not in lines:
        reason = "timeout" if timed_out else "error"  # the program never started
    elif any(line.startswith(b"blocked ") for line in lines):
        reason = "blocked"
    elif timed_out or exit_code == -signal.SIGXCPU or (exit_code == -signal.SIGKILL and cpu >= limits.cpu_s):
        reason = "timeout"
    elif exit_code != 0 and "MemoryError" in stderr:
        reason = "memory"
    elif exit_code == -signal.SIGXFSZ or any(len(o) > limits.output_bytes for o in outputs):
        reason = "output-limit"
    elif exit_code is None or exit_code < 0:
        reason = "killed"
    else:
        reason = "ok" if exit_code == 0 else "failed"
    return SandboxResult(reason == "ok", reason, exit_code, stdout, stderr, round(wall_s, 4))
