"""The embedded default corpus: natural English text that every Python installation carries.

It is the docstrings of a fixed list of standard-library modules (prose written by people, about
2 MB), so `emergent ladder run tiny` works offline with nothing to download. The text depends on
the Python version, which the data manifest records.
"""
from __future__ import annotations

import importlib
import inspect
import platform
import warnings
from pathlib import Path

from contracts.atomic import write_text_atomic

MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "cmd", "codecs", "collections",
    "concurrent.futures", "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal",
    "difflib", "email", "enum", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html", "http.client", "http.server", "imaplib", "inspect", "io",
    "ipaddress", "itertools", "json", "logging", "mailbox", "math", "mimetypes", "multiprocessing",
    "numbers", "operator", "optparse", "os", "pathlib", "pickle", "pkgutil", "platform", "plistlib",
    "poplib", "pprint", "queue", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex",
    "shutil", "signal", "smtplib", "socket", "socketserver", "sqlite3", "ssl", "statistics", "string",
    "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize",
    "trace", "traceback", "turtle", "typing", "unittest", "urllib.parse", "urllib.request", "uuid",
    "warnings", "wave", "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile", "zoneinfo",
)


def _docstrings(module) -> list[str]:
    docs = []
    seen = set()
    for obj in [module] + [v for _, v in sorted(vars(module).items())]:
        try:
            doc = inspect.getdoc(obj)
        except Exception:  # some objects raise on attribute access
            continue
        if doc and len(doc) > 80 and doc not in seen:
            seen.add(doc)
            docs.append(doc)
        if inspect.isclass(obj) and getattr(obj, "__module__", None) == module.__name__:
            for _, member in sorted(vars(obj).items()):
                member_doc = inspect.getdoc(member) if callable(member) else None
                if member_doc and len(member_doc) > 80 and member_doc not in seen:
                    seen.add(member_doc)
                    docs.append(member_doc)
    return docs


def build_default_corpus(out_dir: str | Path) -> Path:
    """Write the corpus as one text file per module; returns the directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated aliases warn when their docstrings are read
            try:
                module = importlib.import_module(name)
            except Exception:  # a module missing from this build of Python (e.g. no tkinter): skip
                continue
            text = "\n\n".join(_docstrings(module))
        if text:
            write_text_atomic(out_dir / f"{name}.txt", text + "\n")
    write_text_atomic(out_dir / "SOURCE", f"Docstrings of Python {platform.python_version()}'s standard library "
                      f"({len(MODULES)} modules), extracted by trainer/corpus.py.\n")
    return out_dir
