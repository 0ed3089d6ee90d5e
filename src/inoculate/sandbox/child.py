"""The sandboxed child's bootstrap: isolate, limit, drop privileges, load the system-call filter, run the program.

The host (`inoculate.sandbox`) compiles this file once and hands the code to each child on stdin, ahead of the
filter and the program; the child runs it under `python -s -S`, so it uses the standard library only.
"""
from __future__ import annotations

import codecs
import os
import sys

_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWPID, _CLONE_NEWNET = 0x20000, 0x8000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
_PR_SET_PDEATHSIG, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS, _SECCOMP_MODE_FILTER = 1, 22, 38, 2
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
    control, report, uid, cpu_s, memory_mb, file_mb, max_procs, filter_len = map(int, argv[:8])
    tier, workdir = argv[8], argv[9]
    syscall_filter = sys.stdin.buffer.read(filter_len)
    source = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    namespaces = tier == "namespaces"
    call = _libc() if namespaces or syscall_filter else None
    if namespaces:  # should the host die, its thread's death kills this bootstrap, and the bootstrap's kills pid 1
        call("prctl", _PR_SET_PDEATHSIG, 9, 0, 0, 0)
        call("unshare", _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC)
    if pid := os.fork():
        _wait_and_exit(control, pid, announce=True)
    if namespaces:  # this is pid 1 of the new namespaces
        call("prctl", _PR_SET_PDEATHSIG, 9, 0, 0, 0)
        _isolate_filesystem(call, uid, file_mb)
        if pid := os.fork():  # the program must not be pid 1, which ignores signals it has no handler for (SIGXCPU...)
            _wait_and_exit(control, pid, announce=False)
    os.close(control)
    import resource

    # RLIMIT_CORE 1, not 0: the kernel ignores 0 where core_pattern pipes to a helper (apport, systemd-coredump),
    # and a program killed by SIGXCPU then waits on that helper (on a read-only root, it fails to write). A limit of
    # 1 is the one the kernel reads as "no core", for a pipe (fs/coredump.c) and a file (under ELF's minimum) alike;
    # the price is a kernel log line per crash ("RLIMIT_CORE is set to 1, aborting core").
    for limit, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_FSIZE, file_mb << 20),
                         (resource.RLIMIT_NPROC, max_procs), (resource.RLIMIT_CORE, 1), (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(limit, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # SIGXCPU, then SIGKILL if that is caught
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if call:  # setuid binaries cannot hand privileges back; and seccomp asks for it from the unprivileged
        call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.chdir(workdir)
    os.umask(0o077)
    path = os.path.join(workdir, "program.py")  # a real file, so tracebacks show the failing line
    with open(path, "wb") as f:
        f.write(source)
    if syscall_filter:  # last, so the bootstrap itself never meets it; inherited by all the program starts
        _load_filter(call, syscall_filter)
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


def _load_filter(call, program: bytes) -> None:
    import ctypes

    class SockFprog(ctypes.Structure):  # <linux/filter.h>: the instruction count, then a pointer to them
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    instructions = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.addressof(instructions))
    call("prctl", _PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(prog), ctypes.c_ulong(0),
         ctypes.c_ulong(0))


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
