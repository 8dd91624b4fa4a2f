"""Verdicts that a clean exit cannot fake: the tests run here, the completion runs in the sandbox.

The trusted side (this module, in the calling process) executes the task's prompt (for helpers the
tests use, e.g. HumanEval's `poly`) and its test code, and calls `check(candidate)` with `candidate`
a proxy: each call is sent to the sandboxed interpreter, which runs only prompt + completion, calls
the entry point and sends the return value back as plain data (None, bool, int, float, str, list,
tuple, dict, set; exact types, nothing else). The asserts therefore run outside the completion's
interpreter: an early exit, atexit, an excepthook, a thread, a signal handler, patched builtins or
modules, settrace or an always-equal object cannot make them pass, and the completion never sees
the tests. A check passes only when `check` returns normally here, with no protocol failure.
"""
from __future__ import annotations

import builtins
import functools
import re
import time

from passuntil.sandbox import CheckResult, Limits, Sandbox, SandboxClosed, SandboxTimeout


class CheckAborted(BaseException):
    """Raised into the test code when the sandbox times out, ends or breaks the protocol. A BaseException
    so that a test's `except Exception` cannot swallow it (the verdict is kept on the side anyway)."""


class CandidateError(Exception):
    """The completion raised an exception that is not a builtin one."""


class NotPlainData(ValueError):
    pass


# Everything a reply can provoke while it is read, parsed and decoded: a failed check, never the caller's exception.
REPLY_ERRORS = (SandboxClosed, NotPlainData, ValueError, RecursionError, OverflowError, MemoryError, TypeError)


_INT = re.compile(r"-?[0-9]{1,4300}")
MAX_VALUES = 50_000  # decoded values in one reply: a bound on what the parent builds, whatever the bytes
MAX_SAME_HASH = 8     # keys of one set or dict sharing a full hash: more is built to make hashing quadratic


PLAIN = (type(None), bool, int, float, str, list, tuple, set, frozenset, dict)


def require_plain(x, depth: int = 0):
    """`x` itself when it is plain data of exact types (what goes to the sandbox, by marshal)."""
    t = type(x)
    if depth > 100:
        raise NotPlainData("nested too deeply")
    if t not in PLAIN:
        raise NotPlainData(f"cannot send a {t.__name__} to the sandbox")
    if t is dict:
        for k, v in x.items():
            require_plain(k, depth + 1)
            require_plain(v, depth + 1)
    elif t in (list, tuple, set, frozenset):
        for v in x:
            require_plain(v, depth + 1)
    return x


def decode(x, depth: int = 0, budget: list[int] | None = None):
    """The sandbox's tagged JSON reply to plain data, strictly; anything else is NotPlainData. At most MAX_VALUES
    values are built, and a set or dict is built only when its keys do not collide in hashing (its cost is then
    linear): a reply cannot make the trusted parent spend memory or time beyond what its bytes allow."""
    budget = [MAX_VALUES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise NotPlainData(f"more than {MAX_VALUES} values in one reply")
    if depth > 100:
        raise NotPlainData("nested too deeply")
    if x is None or type(x) is bool or type(x) is str:
        return x
    if type(x) is not dict or len(x) != 1:
        raise NotPlainData(f"not a tagged value: {str(x)[:80]}")
    ((tag, v),) = x.items()
    if tag == "i" and type(v) is str and _INT.fullmatch(v):
        return int(v)
    if tag == "f" and type(v) is str:
        try:
            return float.fromhex(v)
        except (ValueError, OverflowError):
            raise NotPlainData(f"bad float {v[:40]!r}") from None
    if tag in ("l", "t", "s") and type(v) is list:
        items = [decode(e, depth + 1, budget) for e in v]
        if tag == "s":
            return set(_hashable_keys(items))
        return items if tag == "l" else tuple(items)
    if tag == "d" and type(v) is list and all(type(p) is list and len(p) == 2 for p in v):
        pairs = [(decode(k, depth + 1, budget), decode(e, depth + 1, budget)) for k, e in v]
        _hashable_keys([k for k, _ in pairs])
        return dict(pairs)
    raise NotPlainData(f"unknown tag {str(tag)[:20]!r}")


def _hashable_keys(keys: list) -> list:
    """`keys` when each is hashable and no more than MAX_SAME_HASH share one hash (counted in a dict keyed by the
    hash values, which are distinct ints: linear). Equal full hashes force a comparison on every probe."""
    counts: dict[int, int] = {}
    for key in keys:
        try:
            h = hash(key)
        except TypeError:
            raise NotPlainData(f"unhashable set element or dict key: a {type(key).__name__}") from None
        counts[h] = counts.get(h, 0) + 1
        if counts[h] > MAX_SAME_HASH:
            raise NotPlainData(f"more than {MAX_SAME_HASH} set elements or dict keys share one hash (a collision attack)")
    return keys


def _exception(name: str, message: str) -> Exception:
    cls = getattr(builtins, name, None) if type(name) is str else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return CandidateError(f"{name}: {message}")


class Candidate:
    """The proxy handed to the tests: calls the completion's function in the sandbox."""

    def __init__(self, box: Sandbox, name: str):
        self._box, self.__name__ = box, name
        self.failure: tuple[str, str] | None = None  # (status, reason) of the first protocol failure
        self.calls = 0

    def _abort(self, status: str, reason: str):
        if self.failure is None:
            self.failure = (status, reason)
        raise CheckAborted(reason)

    def __call__(self, *args, **kwargs):
        if self.failure:
            raise CheckAborted(self.failure[1])
        if kwargs:
            self._abort("failed", "keyword arguments are not supported by the sandbox proxy")
        self.calls += 1
        try:
            reply = self._box.request({"args": require_plain(list(args))})
        except SandboxTimeout as err:
            self._abort("timeout", str(err))
        except REPLY_ERRORS as err:  # ValueError: bad JSON or encoding
            self._abort("failed", f"call {self.calls}: {type(err).__name__}: {str(err)[:200]}")
        if type(reply) is dict and set(reply) == {"ok"}:
            try:
                value = decode(reply["ok"])
            except REPLY_ERRORS as err:
                self._abort("failed", f"call {self.calls} returned something that is not plain data: {str(err)[:200]}")
            if time.monotonic() > self._box.deadline:  # the deadline holds for the decoding too
                self._abort("timeout", f"wall-clock limit of {self._box.limits.wall_seconds:g} s (while decoding a reply)")
            return value
        if type(reply) is dict and set(reply) == {"error", "message"}:
            raise _exception(reply["error"], str(reply["message"]))
        self._abort("failed", f"call {self.calls}: malformed reply")


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, name: str):
    try:
        return compile(source, name, "exec")
    except SyntaxError:
        return None


def _test_namespace(prompt: str, tests: str) -> dict:
    """The prompt's helpers (trusted task text; a prompt that is not valid alone adds nothing) and the tests."""
    namespace: dict = {"__name__": "__passuntil_tests__"}
    code = _compiled(prompt, "<prompt>")
    if code is not None:
        try:
            exec(code, namespace)
        except Exception:
            namespace = {"__name__": "__passuntil_tests__"}
    tests_code = _compiled(tests, "<tests>")
    if tests_code is None:
        raise ValueError("the task's test code does not compile")
    exec(tests_code, namespace)
    return namespace


def _run_tests(check, candidate: Candidate) -> tuple[str, str]:
    try:
        check(candidate)
    except CheckAborted as err:  # the candidate's own failure keeps its status ("timeout" stays a timeout)
        return candidate.failure if candidate.failure is not None else ("failed", str(err))
    except Exception as err:  # an assert, or an error of the candidate: a plain failure
        return "failed", f"{type(err).__name__}: {str(err)[:300]}"
    if candidate.failure is not None:  # the tests swallowed the abort; the verdict did not
        return candidate.failure
    return "passed", ""


def supervised_check(prompt: str, completion: str, tests: str, entry_point: str, limits: Limits = Limits(),
                     check_name: str = "check") -> CheckResult:
    """Pass only when the task's `check(candidate)` returns here, every call answered in plain data."""
    start = time.perf_counter()
    namespace = _test_namespace(prompt, tests)
    status, reason = "failed", ""
    with Sandbox.fresh(limits, "serve", entry_point) as box:
        candidate = Candidate(box, entry_point)
        try:
            box.send_program(prompt + completion)
            ready = box.receive()
        except SandboxTimeout as err:
            status, reason, ready = "timeout", f"loading the completion: {err}", None
        except REPLY_ERRORS as err:
            reason, ready = f"loading the completion: {type(err).__name__}: {str(err)[:200]}", None
        if ready is not None and ready != {"ready": True}:
            reason = f"the completion did not load: {str(ready)[:300]}"
        elif ready is not None:
            namespace[entry_point] = candidate  # tests may name the function itself (HumanEval/33)
            status, reason = _run_tests(namespace[check_name], candidate)
    return CheckResult(status == "passed", status, None, box.output_text(), "", time.perf_counter() - start,
                       reason + box.output_note(), box.iso.level)
