"""The system-call filter of sandboxed programs (seccomp), compiled once in the host, loaded in each child.

A program that computes and prints needs none of the calls below; most sandbox escapes of recent years went through
them (user namespaces above all: `unshare(CLONE_NEWUSER)` hands an unprivileged process capabilities over new
namespaces, and with them the mount, netfilter and BPF code of the kernel). Each is denied with EPERM, so the
program sees an ordinary PermissionError and its verdict stays "failed", never "killed" or "error".

It is a deny list over a default of "allow", as systemd's `SystemCallFilter=~...` is, not an allow list as Docker's
profile is: an allow list must track every new glibc and kernel (faccessat2, clone3, close_range, futex_waitv, ...)
or break ordinary programs, and the program already runs unprivileged in its own namespaces, so the filter's work is
to shrink the kernel surface an unprivileged process can reach, not to be the boundary alone.

The binding is pyseccomp (PyPI): a pure-Python ctypes wrapper with the API of libseccomp's own Python module, over
the system's libseccomp, the library behind runc, podman, systemd and Firecracker's jailer. It installs from PyPI
into the venv on any Linux (the official binding is a C extension that PyPI does not carry; Debian's python3-seccomp
cannot reach a venv), and libseccomp itself does the parts that are easy to get wrong: syscall numbers per
architecture and the checks that stop the x32 and i386 ABIs from walking around the filter. The host compiles the
filter to BPF once; the child loads those bytes with a single prctl, so a run pays neither the binding's import
(~180 ms: ctypes.util runs ldconfig) nor libseccomp's compile.
"""

from __future__ import annotations

import errno
import os

# Each name is a system call a compute-and-print program never needs. Names this architecture or this libseccomp
# does not know are skipped (tests/test_sandbox_seccomp.py checks that every one the issue named is known here).
DENIED = (
    # namespaces and mounts: the way to new kernel surface, and to a view of the filesystem the sandbox did not make
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
    "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick",
    # other processes' memory and the kernel's debugging interfaces
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd", "perf_event_open",
    # kernel subsystems with a long record of privilege escalations
    "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key",
    "request_key", "modify_ldt", "vm86", "vm86old", "personality",
    # the machine itself: modules, kexec, clocks, swap, reboot, accounting, quotas, raw I/O, NUMA placement
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "query_module", "get_kernel_syms", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime", "sethostname", "setdomainname", "iopl",
    "ioperm", "vhangup", "nfsservctl", "lookup_dcookie", "uselib", "_sysctl", "sysfs", "ustat", "mbind",
    "set_mempolicy", "migrate_pages", "move_pages", "fanotify_init", "name_to_handle_at", "open_by_handle_at",
)
# clone(2)'s flags are its first argument on x86_64 and aarch64 (s390 swaps the first two: not supported here).
# CLONE_NEWTIME (0x80) is left out: in clone(2) those bits are the exit signal, and it is clone3/unshare-only.
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x2000000, "CLONE_NEWUTS": 0x4000000,
                   "CLONE_NEWIPC": 0x8000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}


def compile_filter() -> bytes | str:
    """The filter as BPF instructions (struct sock_filter[]), or one line on why there is none here."""
    try:
        import pyseccomp as seccomp  # libseccomp's own module has the same API, were it installed instead
    except ImportError:
        return "pyseccomp is not installed (pip install pyseccomp)"
    except (OSError, RuntimeError) as e:  # the binding loads libseccomp.so.2 on import
        return f"libseccomp is not usable: {e} (apt-get install libseccomp2)"
    deny = seccomp.ERRNO(errno.EPERM)
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        rules.set_attr(seccomp.Attr.ACT_BADARCH, deny)  # a call through another ABI (int 0x80, x32) is refused
        for name in DENIED:
            if (number := seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)) >= 0:
                rules.add_rule(deny, number)
        for flag in NAMESPACE_FLAGS.values():  # rules on one call are alternatives: any namespace flag denies
            rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        # clone3 passes its flags in memory, which seccomp cannot read. ENOSYS, not EPERM: glibc then falls back to
        # clone(2) for threads and subprocesses, whose flags the rules above do read.
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        read, write = os.pipe()  # at most 4096 instructions of 8 bytes: fits a pipe's buffer
        try:
            rules.export_bpf(_Fd(write))
            os.close(write)
            write = -1
            return _read_all(read)
        finally:
            for fd in (read, write):
                if fd >= 0:
                    os.close(fd)
    except (OSError, ValueError) as e:
        return f"libseccomp could not build the filter: {e}"


class _Fd:
    def __init__(self, fd: int):
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
