"""The first code the sandboxed interpreter runs (passed with -c; it imports nothing from the project).

It runs as the unprivileged uid inside the namespaces, before any generated code: it lowers the
rlimits (an unprivileged process cannot raise them again), keeps only its pipes, installs the audit
hook (a second layer: the walls are the OS's), reads the program and then either
- `program` mode: runs it; the exit status is the result (plain scripts), or
- `serve` mode: runs it as a module, then answers calls of the entry point from the supervisor, each
  argument list and return value in the strict plain-data encoding. The supervisor, not this process,
  runs the tests and decides the verdict.
Messages on both pipes are a 4-byte big-endian length and a body: from the trusted parent, marshal
(fast to load, and only the parent writes it); to the parent, ASCII JSON built here with the C string
escaper, which the parent parses strictly. It avoids `json`/`re`, whose import cost more than the
namespaces (measured: 30-100 ms under load).
"""

# The process level has no bwrap to load the seccomp filter: the bootstrap installs it itself, before any generated
# code, with no privilege (no_new_privs first). A failure ends the sandbox: a check never runs without it.
INSTALL_SECCOMP = r'''
def _filter(bpf):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _Prog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    z = ctypes.c_ulong(0)
    if libc.prctl(ctypes.c_int(38), ctypes.c_ulong(1), z, z, z) != 0 or \
            libc.prctl(ctypes.c_int(22), ctypes.c_ulong(2), ctypes.byref(prog), z, z) != 0:
        os.write(2, b"sandbox: the seccomp filter could not be installed\n")
        os._exit(70)
'''

CHILD = r'''
import os, sys, resource, marshal
from _json import encode_basestring_ascii as _q
def _setup(cfg):
    for name, value in cfg["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    if cfg.get("seccomp"):
        _filter(cfg["seccomp"])
#SECCOMP#
_IN, _OUT = 0, os.dup(1)
os.dup2(2, 1)  # the program's prints go to the capped stderr pipe, never onto the protocol channel
def _read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(_IN, n - len(buf))
        if not chunk:
            os._exit(0)
        buf += chunk
    return buf
def _recv():
    return marshal.loads(_read_exact(int.from_bytes(_read_exact(4), "big")))
def _send(text):
    data = text.encode("ascii")
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(_OUT, data):]
def _error(e):
    return '{"error":%s,"message":%s}' % (_q(type(e).__name__), _q(str(e)[:500]))
_cfg = _recv()
_setup(_cfg)
os.closerange(3, _OUT)
os.closerange(_OUT + 1, 1 << 16)
if _cfg["hook"]:
    _root = os.path.realpath(os.getcwd())
    _self = os.getpid()
    def _inside(path):
        try:
            p = os.path.realpath(os.fsdecode(path) if not isinstance(path, int) else "")
        except Exception:
            return False
        return p == _root or p.startswith(_root + os.sep)
    _BLOCKED = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "os.fork", "os.forkpty",
                "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "os.startfile", "pty.spawn",
                "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.chdir", "os.chroot", "os.setuid", "os.setgid",
                "resource.setrlimit", "resource.prlimit", "os.putenv", "os.unsetenv", "sys.addaudithook"}
    _PATHS = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.chown",
              "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}
    def _hook(event, args):
        if event in _BLOCKED:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event in ("os.kill", "os.killpg"):
            if not (event == "os.kill" and args[0] in (0, _self)):
                raise PermissionError(f"sandbox: {event} of another process is not allowed")
        elif event == "open":
            path, mode, flags = args
            write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
            writing = (mode and any(c in mode for c in "wax+")) or (flags and flags & write_flags)
            if writing and not isinstance(path, int) and not _inside(path):
                raise PermissionError(f"sandbox: writing {path} outside the sandbox directory is not allowed")
        elif event in _PATHS:
            if any(not _inside(p) for p in args if isinstance(p, (str, bytes, os.PathLike))):
                raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed")
    sys.addaudithook(_hook)
    del _hook
_code = _recv()["program"]
if _cfg["mode"] == "program":
    del _recv, _send
    exec(compile(_code, "<generated>", "exec"), {"__name__": "__main__"})
    sys.exit(0)
_ns = {"__name__": "__generated__"}
def _plain(x, depth=0):
    t = type(x)
    if depth > 100:
        raise TypeError("nested too deeply")
    if x is None:
        return "null"
    if t is bool:
        return "true" if x else "false"
    if t is str:
        return _q(x)
    if t is int:
        return '{"i":"%d"}' % x
    if t is float:
        return '{"f":"%s"}' % x.hex()
    if t in (list, tuple, set, frozenset):
        tag = {list: "l", tuple: "t", set: "s", frozenset: "s"}[t]
        return '{"%s":[%s]}' % (tag, ",".join([_plain(v, depth + 1) for v in x]))
    if t is dict:
        return '{"d":[%s]}' % ",".join(["[%s,%s]" % (_plain(k, depth + 1), _plain(v, depth + 1)) for k, v in x.items()])
    raise TypeError(f"the return value holds a {t.__name__}, not plain data")
try:
    exec(compile(_code, "<generated>", "exec"), _ns)
    _fn = _ns[_cfg["entry_point"]]
    _send('{"ready":true}')
except BaseException as e:
    _send(_error(e))
    os._exit(0)
while True:
    _args = _recv()["args"]
    try:
        _res = '{"ok":%s}' % _plain(_fn(*_args))
    except BaseException as e:
        _res = _error(e)
    _send(_res)
'''
CHILD = CHILD.replace("#SECCOMP#\n", INSTALL_SECCOMP.lstrip("\n"))
