"""A small seccomp filter for the sandbox, as classic BPF bytes for `bwrap --seccomp FD` (bwrap level) or
installed by the trusted bootstrap itself (process level: `prctl(PR_SET_SECCOMP)`, no privilege needed).

No library is needed: the program checks the architecture (x86-64 only; elsewhere no filter is
built and the isolation level says so), refuses the x32 ABI, and answers EPERM to the system calls
generated code has no use for and that widen the kernel's attack surface (ptrace and cross-process
memory access, mounts and namespaces, modules, kexec, bpf, perf, userfaultfd, io_uring, keyrings,
handle-based opens, ...), and to those that allocate kernel memory no per-check limit sees: SysV
shared memory, semaphores and message queues, memfd_create and memfd_secret, extended attributes.
socket() and socketpair() are allowed for AF_UNIX only (EAFNOSUPPORT otherwise): inside an empty network
namespace no other family is of use, and some (AF_VSOCK: VM-wide; AF_NETLINK, AF_PACKET, raw sockets)
reach beyond it. Everything else is allowed: the namespaces and the unprivileged uid are the walls; this
filter narrows what the kernel exposes behind them.
"""
from __future__ import annotations

import os
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
EPERM = 1

# x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
DENIED_X86_64 = {
    "ptrace": 101, "syslog": 103, "personality": 135, "vhangup": 153, "pivot_root": 155, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "sethostname": 170, "setdomainname": 171, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "lookup_dcookie": 212, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "migrate_pages": 256, "unshare": 272, "move_pages": 279, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}


# Kernel memory outside RLIMIT_AS and the tmpfs bound: SysV IPC, anonymous memory files, extended attributes.
DENIED_X86_64.update({
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67, "msgget": 68,
    "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220, "memfd_create": 319, "memfd_secret": 447,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199,
    "setxattrat": 463, "removexattrat": 466,
})
SOCKET_CALLS_X86_64 = {"socket": 41, "socketpair": 53}
AF_UNIX = 1
EAFNOSUPPORT = 97
ARG0_LOW = 16  # offsetof(struct seccomp_data, args[0]), its low 32 bits on little-endian x86-64


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program() -> bytes | None:
    """The filter for this machine, or None where it is not built (not x86-64)."""
    if platform.machine() != "x86_64":
        return None
    denied = sorted(DENIED_X86_64.values())
    sockets = sorted(SOCKET_CALLS_X86_64.values())
    # layout: 0 ld arch | 1 jeq arch | 2 ld nr | 3 jge x32 | socket calls | denied calls | allow | deny | kill
    #         | ld arg0 | jeq AF_UNIX | allow | refuse the family
    first = 4
    allow = first + len(sockets) + len(denied)
    deny, kill, family = allow + 1, allow + 2, allow + 3
    insns = [_insn(LD_W_ABS, 0, 0, 4), _insn(JEQ_K, 0, kill - 2, AUDIT_ARCH_X86_64), _insn(LD_W_ABS, 0, 0, 0),
             _insn(JGE_K, deny - 4, 0, X32_SYSCALL_BIT)]
    for number in sockets:
        insns.append(_insn(JEQ_K, family - len(insns) - 1, 0, number))
    for number in denied:
        insns.append(_insn(JEQ_K, deny - len(insns) - 1, 0, number))
    insns += [_insn(RET_K, 0, 0, RET_ALLOW), _insn(RET_K, 0, 0, RET_ERRNO | EPERM), _insn(RET_K, 0, 0, RET_KILL_PROCESS)]
    insns += [_insn(LD_W_ABS, 0, 0, ARG0_LOW), _insn(JEQ_K, 0, 1, AF_UNIX), _insn(RET_K, 0, 0, RET_ALLOW),
              _insn(RET_K, 0, 0, RET_ERRNO | EAFNOSUPPORT)]
    return b"".join(insns)


def pipe_with(data: bytes) -> int:
    """A readable descriptor holding `data` then EOF (the filter is far below a pipe's buffer)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
    finally:
        os.close(write_end)
    return read_end
