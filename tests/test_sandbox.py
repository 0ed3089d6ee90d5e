"""Hostile programs against the sandbox, in each isolation tier this machine can run.

Every test runs once per tier: "namespaces" (the real boundary, skipped where the kernel refuses it) and
"audit-hook" (the fallback, forced here). The `tier` fixture then checks that the host is untouched: no process
left running as a sandbox uid (read from /proc), no work directory left in the temp dir.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from inoculate import InoculateError, sandbox
from inoculate.sandbox import SandboxLimits, run_many, run_program


def _status(pid: int) -> tuple[int, int]:
    """(uid, parent pid), or (-1, 0) for a process that is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    except OSError:
        return -1, 0
    return int(fields["Uid"].split()[0]), int(fields["PPid"])


def _is_sandboxed(uid: int) -> bool:
    return sandbox._UID_BASE <= uid < sandbox._UID_BASE + sandbox._UID_SLOTS


def _is_sandbox(pid: int) -> bool:
    """Runs as a sandbox uid, or runs (or was forked from) the sandbox's bootstrap, as root when no uid drops."""
    try:
        return _is_sandboxed(_status(pid)[0]) or sandbox._BOOT.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def sandbox_pids() -> list[int]:
    """Live sandbox processes this test process started, or orphaned ones; sandboxes run by another process on the
    machine (another test session) are its business."""
    found = []
    for pid in (int(e) for e in os.listdir("/proc") if e.isdigit() and _is_sandbox(int(e))):
        child, parent = pid, _status(pid)[1]
        while parent not in (0, 1, os.getpid()):
            child, parent = parent, _status(parent)[1]
        if parent == os.getpid() or (parent == 1 and _is_sandbox(child)):
            found.append(pid)
    return found


def workdirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("inoculate-sandbox-")}


@functools.cache
def audit_hook_can_drop_uid() -> bool:
    return sandbox._probe("audit-hook", True, False) is None


def forced_audit_hook() -> dict:
    """The fallback tier's state, as isolation() would report it where namespaces are unavailable."""
    return {"tier": "audit-hook", "uid_drop": audit_hook_can_drop_uid(),
            "syscall_filter": sandbox.isolation()["syscall_filter"], "unavailable": []}


@pytest.fixture(params=["namespaces", "audit-hook"])
def tier(request, monkeypatch):
    if request.param == "namespaces":
        if sandbox.isolation()["tier"] != "namespaces":
            pytest.skip(f"namespaces unavailable here: {sandbox.isolation()['unavailable']}")
    else:
        monkeypatch.setattr(sandbox, "_isolation_state", forced_audit_hook())
    before = workdirs()
    yield request.param
    assert sandbox_pids() == [], "processes outlived the run"
    assert workdirs() <= before, "a work directory was left behind"


def expect(tier: str, namespaces: str, audit_hook: str) -> str:
    return namespaces if tier == "namespaces" else audit_hook


def test_passing_program(tier):
    r = run_program("def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\nprint('done')\n")
    assert (r.passed, r.reason, r.exit_code, r.stdout, r.stderr) == (True, "ok", 0, "done\n", "")


def test_failing_assert_and_syntax_error(tier):
    r = run_program("def add(a, b):\n    return a - b\n\nassert add(1, 2) == 3\n")
    assert (r.passed, r.reason, r.exit_code) == (False, "failed", 1)
    assert "assert add(1, 2) == 3" in r.stderr and "AssertionError" in r.stderr
    r = run_program("def broken(:\n")
    assert (r.reason, r.exit_code) == ("failed", 1) and "SyntaxError" in r.stderr


def test_infinite_loop_times_out(tier):
    r = run_program("import time\nwhile True:\n    time.sleep(0.05)\n", SandboxLimits(wall_s=1))
    assert (r.passed, r.reason) == (False, "timeout")


def test_cpu_burn_hits_the_cpu_limit(tier):
    r = run_program("while True:\n    pass\n", SandboxLimits(wall_s=20, cpu_s=1))
    assert (r.reason, r.exit_code) == ("timeout", -signal.SIGXCPU)


def test_fork_bomb_is_contained(tier):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = run_program(bomb, SandboxLimits(wall_s=2, max_procs=8))
    assert r.reason == expect(tier, "timeout", "blocked")
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


@pytest.mark.parametrize("program", ["b = bytearray(4 * 1024 ** 3)\n",
                                     "x = []\nwhile True:\n    x.append(bytearray(10 ** 7))\n"])
def test_memory_balloon(tier, program):
    r = run_program(program, SandboxLimits(memory_mb=256))
    assert (r.reason, r.exit_code) == ("memory", 1) and "MemoryError" in r.stderr


@pytest.fixture
def open_dir():
    """A world-writable directory outside /tmp with a root-owned canary: only the sandbox can protect it."""
    if not os.path.isdir("/var/tmp"):
        pytest.skip("no /var/tmp")
    try:
        path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="sandbox-test-"))
    except OSError as e:  # a VM whose root filesystem is read-only: nothing there for the sandbox to protect
        pytest.skip(f"/var/tmp is not writable here ({e.strerror})")
    path.chmod(0o777)
    canary = path / "canary"
    canary.write_text("alive")
    canary.chmod(0o666)
    try:
        yield path
        assert canary.read_text() == "alive"
        assert [p.name for p in path.iterdir()] == ["canary"]
    finally:
        shutil.rmtree(path)


ROFS = "Read-only file system"
SHELL = "CalledProcessError"


@pytest.mark.parametrize("attack, in_namespaces, evidence", [
    ("open({dir!r} + '/new', 'w').write('x')", "failed", ROFS),
    ("import os; os.remove({dir!r} + '/canary')", "failed", ROFS),
    ("open({dir!r} + '/canary', 'w').write('overwritten')", "failed", ROFS),
    ("import subprocess; subprocess.run(['sh', '-c', 'echo x > {dir}/new; rm -f {dir}/canary'], check=True)",
     "failed", SHELL),
    ("import subprocess; subprocess.run(['sh', '-c', 'mount -o remount,bind,rw /; echo x > {dir}/new'], check=True)",
     "failed", SHELL),
    ("open({repo!r} + '/sandbox-escape-{tag}', 'w').write('x')", "failed", ROFS),
    ("open('/tmp/sandbox-escape-{tag}', 'w').write('x')", "ok", ""),  # its own private /tmp
])
def test_cannot_touch_files_outside(tier, open_dir, attack, in_namespaces, evidence):
    tag, repo = uuid.uuid4().hex, str(Path(__file__).resolve().parents[1])
    r = run_program(attack.format(dir=str(open_dir), repo=repo, tag=tag))
    assert r.reason == expect(tier, in_namespaces, "blocked")
    if tier == "namespaces" and "{repo!r}" in attack and repo.startswith("/tmp/"):
        # a checkout under /tmp is hidden by the sandbox's private /tmp: not even visible to write to
        evidence = "No such file or directory"
    assert expect(tier, evidence, "is not allowed") in r.stderr
    assert not Path(repo, f"sandbox-escape-{tag}").exists() and not Path(f"/tmp/sandbox-escape-{tag}").exists()


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.3)
    yield server
    with pytest.raises(TimeoutError):  # no connection ever arrived
        server.accept()
    server.close()


def test_network_is_refused(tier, listener):
    port = listener.getsockname()[1]
    r = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n")
    assert r.reason == "blocked"


def test_network_is_unreachable_without_the_hook(tier, listener):
    # A fresh interpreter carries no audit hook: only the network namespace stops it (the fallback denies exec).
    port = listener.getsockname()[1]
    child = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
             "except OSError as e:\n    print(e.errno)\n")
    r = run_program(f"import errno, subprocess, sys\nr = subprocess.run([sys.executable, '-c', {child!r}], "
                    "capture_output=True, text=True)\nassert r.stdout.strip() == str(errno.ENETUNREACH), r\n")
    assert r.reason == expect(tier, "ok", "blocked"), r.stderr


def test_cannot_kill_parent_or_host(tier):
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        program = (f"import os\nfor kill in (lambda: os.kill(os.getppid(), 9), lambda: os.kill({os.getpid()}, 9),\n"
                   f"             lambda: os.kill({bystander.pid}, 9), lambda: os.kill(-1, 9),\n"
                   "             lambda: os.killpg(os.getpgid(0), 9)):\n"
                   "    try:\n        kill()\n    except OSError as e:\n        print(type(e).__name__)\n")
        r = run_program(program)
        # Under namespaces the last attempt kills only the program's own process group: itself.
        assert r.reason == expect(tier, "killed", "blocked")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_environment_secrets_stay_out(tier, monkeypatch):
    secret = f"hunter2-{uuid.uuid4().hex}"
    monkeypatch.setenv("INOCULATE_SANDBOX_TEST_SECRET", secret)
    program = ("import os\nprint(sorted(os.environ))\nprint(dict(os.environ))\n"
               f"for pid in ({os.getpid()}, os.getppid(), 1):\n"
               "    try:\n        print(open(f'/proc/{pid}/environ').read())\n"
               "    except OSError as e:\n        print(type(e).__name__)\n")
    r = run_program(program)
    assert secret not in r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "['HOME', 'LANG', 'PATH', 'PYTHONHASHSEED', 'TMPDIR']"
    assert r.reason == expect(tier, "ok", "blocked")


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_capped(tier, stream):
    def rss_kb() -> int:
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])

    before = rss_kb()
    r = run_program(f"import sys\nwhile True:\n    sys.{stream}.write('x' * 4096)\n",
                    SandboxLimits(wall_s=10, output_bytes=1000))
    assert r.reason == "output-limit"
    assert len(getattr(r, stream)) <= 1000 and len(r.stdout) <= 1000 and len(r.stderr) <= 1000
    assert rss_kb() - before < 50_000


def test_children_left_behind_are_killed(tier):
    program = ("import os, time\n"
               "if os.fork() == 0:  # a daemon: new session, double fork\n    os.setsid()\n"
               "    if os.fork() == 0:\n        time.sleep(61)\n    os._exit(0)\n"
               "time.sleep(0.2)  # time for the daemon to leave the process group\n"
               "import subprocess\nsubprocess.Popen(['sleep', '60'])\nprint('main done')\n")
    r = run_program(program)
    assert r.reason == expect(tier, "ok", "blocked")
    # the `tier` fixture asserts that no sleep survived


def test_nothing_outlives_a_killed_host():
    if sandbox.isolation()["tier"] != "namespaces":
        pytest.skip("the audit-hook tier has no way to notice its host dying")
    host_code = ("from inoculate.sandbox import SandboxLimits, isolation, run_program\n"
                 "isolation()\nprint('probed', flush=True)\n"
                 "run_program('import time\\ntime.sleep(60)', SandboxLimits(wall_s=60))\n")
    host = subprocess.Popen([sys.executable, "-c", host_code], stdout=subprocess.PIPE, text=True)
    assert host.stdout.readline() == "probed\n"  # the probe's own sandbox is gone by now
    deadline = time.monotonic() + 30
    while not sandbox_pids() and time.monotonic() < deadline:  # until the sandboxed program runs
        time.sleep(0.05)
    assert sandbox_pids(), "the sandboxed program never started"
    host.kill()
    host.wait()
    host.stdout.close()
    while sandbox_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_pids() == []


def test_hook_resists_tampering(monkeypatch):
    """The fallback's hook ignores rebound builtins and path objects that lie."""
    state = forced_audit_hook()
    target = f"/var/tmp/sandbox-escape-{uuid.uuid4().hex}"
    programs = [
        f"import builtins\nbuiltins.type = lambda x: int\nbuiltins.PermissionError = None\nopen({target!r}, 'w')\n",
        f"class S(str):\n    def startswith(self, *a):\n        return False\nopen(S({target!r}), 'w')\n",
        "class P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
        f"        return 'inside' if P.n > 1 else {target!r}\nopen(P(), 'w')\n",
        "import gc\nprint(len(gc.get_objects()))\n",
    ]
    monkeypatch.setattr(sandbox, "_isolation_state", state)
    before = workdirs()
    results = run_many(programs, workers=2)
    assert [r.reason for r in results] == ["blocked"] * len(programs)
    assert not os.path.exists(target) and workdirs() <= before and sandbox_pids() == []


def test_sandbox_failure_is_a_result(monkeypatch):
    sandbox.isolation()  # probed with the real interpreter first
    monkeypatch.setattr(sandbox, "_PYTHON", "/nonexistent/python")
    r = run_program("print(1)")
    assert (r.passed, r.reason, r.exit_code) == (False, "error", None) and "nonexistent" in r.stderr


def test_run_many_keeps_order(tier):
    sources = ["print(0)", "assert False", "import time\ntime.sleep(5)", "print(3)", "raise SystemExit(4)"]
    results = run_many(sources, SandboxLimits(wall_s=1), workers=3, progress=True)
    assert [r.reason for r in results] == ["ok", "failed", "timeout", "ok", "failed"]
    assert results[0].stdout == "0\n" and results[3].stdout == "3\n" and results[4].exit_code == 4


def test_misuse_raises():
    with pytest.raises(InoculateError, match="SandboxLimits.wall_s"):
        SandboxLimits(wall_s=0)
    with pytest.raises(InoculateError, match="SandboxLimits.memory_mb"):
        SandboxLimits(memory_mb=True)
    with pytest.raises(InoculateError, match="workers"):
        run_many(["pass"], workers=0)
    with pytest.raises(InoculateError):
        run_program(b"print(1)")


def test_isolation_is_reported():
    info = sandbox.isolation()
    assert info["tier"] in ("namespaces", "audit-hook")
    assert sandbox.network_isolation() == info["network"] == ("netns" if info["tier"] == "namespaces" else "audit-hook")
    assert isinstance(info["uid_drop"], bool) and info["syscall_filter"] in ("seccomp", "none")
    # whatever is weaker than namespaces with a filter says why
    assert (info["tier"] == "namespaces" and info["syscall_filter"] == "seccomp") == (info["unavailable"] == [])
