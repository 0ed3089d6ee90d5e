"""Run untrusted, model-written Python programs and report pass/fail, behind a real security boundary.

`isolation()` picks a tier once per process, by running a probe program through each:
* "namespaces" (root with CAP_SYS_ADMIN, as in CI): fresh pid, network, mount and IPC namespaces; the program runs as
  an unprivileged uid of its own with no_new_privs under a root pid 1 that only waits; all mounts are read-only but a
  private tmpfs /tmp (the working directory) and /dev/shm; /run is hidden; the network is a downed loopback. When
  pid 1 ends or is killed, the kernel kills everything left in the namespace, setsid or not.
* "audit-hook" (fallback): a CPython audit hook denies sockets, process creation, signals, native code and writes
  outside a host temp dir; the uid is dropped where that works. Audit hooks are no security boundary (PEP 578).
Both add CPU, memory, file-size, process and wall-clock limits, a scrubbed environment and capped output; the hook
also reports network attempts, as reason "blocked", in both. Both load a seccomp filter (seccomp.py) last,
as the unprivileged program, that denies namespaces, mounts, ptrace, BPF, keyrings, modules and the like with EPERM;
where libseccomp or its binding is missing, `isolation()` says so and the first run warns.

On any Linux, hold or refuse in one line (lessons of a root Firecracker VM with a read-only root filesystem): the
host writes nothing to disk (memfds carry program and output); the wall clock is the host's, whatever RLIMIT_CPU
does; RLIMIT_CORE is 1 (see child.py); a root host where no tier drops root is refused (`run_program`).
"""

from __future__ import annotations

import os
import sys
import contextlib
import functools
import json
import marshal
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from inoculate._log import InoculateWarning
from inoculate.errors import InoculateError


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


_UID_BASE, _UID_SLOTS = 64200, 256  # a uid per concurrent run, so RLIMIT_NPROC counts that run alone
_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")  # the child's bootstrap
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
# Not -I: it implies -E, which would drop the fixed PYTHONHASHSEED (reproducible set order). The environment is
# built from scratch, so -E guards nothing; -s and -S keep site-packages out.
_FLAGS = ("-s", "-S", "-B")
# The base interpreter, not a venv's: -S leaves the venv unused anyway, and the base's prefix is the one that
# _expose_interpreter keeps reachable, so the program can start `sys.executable` itself.
_PYTHON = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
# The child gets child.py compiled once here, ahead of the filter and the program on stdin: compiling it in every
# child would cost each run ~7 ms, and the bytecode cache may be off (PYTHONDONTWRITEBYTECODE).
_BOOT = "import marshal, sys; exec(marshal.loads(sys.stdin.buffer.read(int(sys.argv[1]))))"
_lock, _busy_slots, _isolation_state = threading.RLock(), set(), None  # re-entered: probes take a slot


def isolation() -> dict:
    """The tier in use, probed once per process. `syscall_filter` is "seccomp" or "none"; `unavailable` says why
    stronger tiers, or the filter, were passed over; tier "none" means runs are refused (see run_program)."""
    global _isolation_state
    with _lock:
        if _isolation_state is None:
            _isolation_state = _choose_tier()
        state = dict(_isolation_state)
    network = {"namespaces": "netns", "audit-hook": "audit-hook"}.get(state["tier"], "none")
    return {**state, "network": network}


def network_isolation() -> str:
    """"netns" when runs get an empty network namespace, else "audit-hook" (sockets denied in-process)."""
    return isolation()["network"]


def _choose_tier() -> dict:
    compiled = _syscall_filter()
    filtered, notes = isinstance(compiled, bytes), [] if isinstance(compiled, bytes) else [f"seccomp: {compiled}"]
    tier, drop = "none", False
    for candidate, can_drop in (("namespaces", True), ("audit-hook", True), ("audit-hook", False)):
        if not can_drop and os.geteuid() == 0:
            notes.append("audit-hook without uid drop: the program would run as root")
            continue
        failure = _probe(candidate, can_drop, filtered)
        if failure and filtered and not _probe(candidate, can_drop, False):
            notes.append(f"seccomp: the probe failed under the filter ({failure})")
            filtered, failure = False, None
        if not failure:
            tier, drop = candidate, can_drop
            break
        notes.append(f"{candidate}{' + uid drop' if can_drop else ''}: {failure}")
    if tier == "audit-hook":
        why = next(n for n in notes if n.startswith("namespaces"))
        warnings.warn(f"sandbox: only the best-effort audit-hook tier is available here ({why})", InoculateWarning)
    if tier != "none" and not filtered:
        warnings.warn(f"sandbox: runs have no system-call filter here ({notes[0]})", InoculateWarning)
    return {"tier": tier, "uid_drop": drop, "syscall_filter": "seccomp" if filtered else "none",
            "unavailable": notes}


_PROBE = ("import json, math, os\nstatus = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
          "print(json.dumps([math.pi, os.getuid(), status['Seccomp'].strip()]))\n")


def _probe(tier: str, drop: bool, filtered: bool) -> str | None:
    """None if a tier holds here: the stdlib stays importable after the uid drop, which took, and the filter is on."""
    result = _execute(_PROBE, SandboxLimits(wall_s=30), tier, drop, filtered)
    if not result.passed:
        return f"{result.reason}: {(result.stderr.strip().splitlines() or ['-'])[-1]}"
    _, uid, seccomp = json.loads(result.stdout)
    if drop and uid == 0:
        return "the uid drop did not take"
    if filtered and seccomp != "2":
        return f"the filter is not in force (Seccomp: {seccomp})"
    return None


def run_program(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run one program in the sandbox; every outcome of the program, hostile or not, is a SandboxResult. Raises
    InoculateError, before running anything, where no tier holds on this machine."""
    if not isinstance(source, str) or not isinstance(limits, SandboxLimits):
        raise InoculateError("run_program takes a source string and a SandboxLimits", "sandbox.run_program")
    state = _usable_state()
    return _execute(source, limits, state["tier"], state["uid_drop"], state["syscall_filter"] == "seccomp")


def _usable_state() -> dict:
    state = isolation()
    if state["tier"] == "none":
        raise InoculateError("refusing to run model-written code, no sandbox tier holds on this machine: "
                             + "; ".join(state["unavailable"]), "sandbox")
    return state


@functools.lru_cache(maxsize=1)
def _syscall_filter() -> bytes | str:
    from inoculate.sandbox.seccomp import compile_filter

    return compile_filter()


def run_many(sources: list[str], limits: SandboxLimits = SandboxLimits(), workers: int | None = None,
             progress: bool = False) -> list[SandboxResult]:
    """Run programs in parallel, results in input order. By default 2 workers per CPU, as runs wait on start-up."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InoculateError(f"workers must be a positive integer, got {workers!r}", "sandbox.run_many")
    if not all(isinstance(s, str) for s in sources):
        raise InoculateError("sources must be strings", "sandbox.run_many")
    _usable_state()  # probe once, before the threads race for it; refuse here rather than in every thread
    with ThreadPoolExecutor(max_workers=workers or 2 * (os.cpu_count() or 1)) as pool:
        futures = [pool.submit(run_program, s, limits) for s in sources]
        if progress:
            from tqdm import tqdm

            for _ in tqdm(as_completed(futures), total=len(futures), desc="sandbox", unit="prog"):
                pass
        return [f.result() for f in futures]


@functools.lru_cache(maxsize=1)
def _boot_code() -> bytes:
    with open(_CHILD, "rb") as f:
        return marshal.dumps(compile(f.read(), _CHILD, "exec"))


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


def _execute(source: str, limits: SandboxLimits, tier: str, drop: bool, filtered: bool) -> SandboxResult:
    start = time.monotonic()
    try:
        syscall_filter = _syscall_filter() if filtered else b""
        with contextlib.ExitStack() as stack, _uid_slot(drop) as uid:
            stdin, stdout, stderr = (stack.enter_context(_scratch_file()) for _ in range(3))
            stdin.write(_boot_code() + syscall_filter + source.encode("utf-8", "surrogateescape"))
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
                        limits.max_procs, len(syscall_filter), tier, workdir]
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


def _scratch_file():
    # In memory, not in the temp dir: the namespaces tier then needs no writable directory on the host at all (a
    # read-only root filesystem). RLIMIT_FSIZE caps a memfd as it caps a file, so output stays bounded.
    try:
        return os.fdopen(os.memfd_create("inoculate-sandbox", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):  # not Linux, or Linux < 3.17
        return tempfile.TemporaryFile()


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
