"""The first code the sandboxed interpreter runs (passed with -c; it imports nothing from the project).

It runs as the unprivileged uid inside the namespaces, before any generated code: it lowers the
rlimits (an unprivileged process cannot raise them again), keeps only its pipes, installs the audit
hook (a second layer: the walls are the OS's), reads the program and then either
- `program` mode: runs it; the exit status is the result (plain scripts), or
- `serve` mode: runs it as a module, then answers calls of the entry point from the supervisor, each
  argument list and return value in the strict plain-data encoding. The supervisor, not this process,
  runs the tests and decides the verdict.
Messages on both pipes are a 4-byte big-endian length and UTF-8 JSON.
"""

CHILD = r'''
import os, sys, resource, json, struct
def _setup(cfg):
    for name, value in cfg["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
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
    (n,) = struct.unpack(">I", _read_exact(4))
    return json.loads(_read_exact(n).decode("utf-8"))
def _send(obj):
    data = json.dumps(obj).encode("utf-8")
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(_OUT, data):]
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
            writing = (mode and any(c in mode for c in "wax+")) or (flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
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
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return {"i": str(x)}
    if t is float:
        return {"f": x.hex()}
    if t in (list, tuple, set, frozenset):
        return {{list: "l", tuple: "t", set: "s", frozenset: "s"}[t]: [_plain(v, depth + 1) for v in x]}
    if t is dict:
        return {"d": [[_plain(k, depth + 1), _plain(v, depth + 1)] for k, v in x.items()]}
    raise TypeError(f"the return value holds a {t.__name__}, not plain data")
def _unplain(x):
    if x is None or type(x) in (bool, str):
        return x
    (tag, v), = x.items()
    if tag == "i": return int(v)
    if tag == "f": return float.fromhex(v)
    if tag == "l": return [_unplain(e) for e in v]
    if tag == "t": return tuple(_unplain(e) for e in v)
    if tag == "s": return {_unplain(e) for e in v}
    if tag == "d": return {_unplain(k): _unplain(e) for k, e in v}
    raise ValueError(tag)
try:
    exec(compile(_code, "<generated>", "exec"), _ns)
    _fn = _ns[_cfg["entry_point"]]
    _send({"ready": True})
except BaseException as e:
    _send({"error": type(e).__name__, "message": str(e)[:500]})
    os._exit(0)
while True:
    _req = _recv()
    try:
        _res = {"ok": _plain(_fn(*_unplain(_req["args"])))}
    except BaseException as e:
        _res = {"error": type(e).__name__, "message": str(e)[:500]}
    _send(_res)
'''
