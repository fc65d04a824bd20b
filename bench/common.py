"""Small shared helpers: progress lines, statistics, Grip-Sig tokens, versions."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata

import jwt

SIG_ISS = "pushpin"

_T0 = time.monotonic()


def progress(message: str) -> None:
    """One line per step, so a long run shows where it is."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


class PushpinToken:
    """Grip-Sig as Pushpin 1.36 sends it: HS256, {"iss", "exp": now + 3600} in
    whole seconds, so every request within one second carries the same token."""

    def __init__(self, key: str):
        self.key = key
        self._second = -1
        self._token = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._token = jwt.encode({"iss": SIG_ISS, "exp": now + 3600}, self.key, algorithm="HS256")
        return self._token


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Target:
    name: str
    value: float
    limit: float
    kind: str  # "<=" or ">="
    unit: str = "x"
    note: str = ""

    @property
    def met(self) -> bool:
        if self.value != self.value:  # NaN: not measured
            return False
        return self.value <= self.limit if self.kind == "<=" else self.value >= self.limit


@dataclass
class Result:
    """What one benchmark hands to the report."""

    key: str
    title: str
    tables: list = field(default_factory=list)  # (caption, headers, rows)
    checks: list[Check] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    error: str = ""

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        if not ok:
            progress(f"  CHECK FAILED: {name} {detail}")
        return bool(ok)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit(path: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", path, "status", "--porcelain"], capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip() or "no commit"
        return commit + (" (uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(repo: str) -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        pushpin = subprocess.run(
            ["pushpin", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pushpin = "not found"
    versions = {
        d: _version(d)
        for d in (
            "Django",
            "django-grip",
            "gripcontrol",
            "pubcontrol",
            "PyJWT",
            "channels",
            "daphne",
            "gunicorn",
            "websockets",
            "matplotlib",
        )
    }
    try:
        import grip_views

        versions["grip_views"] = getattr(grip_views, "__version__", "dev")
    except Exception as exc:  # the library may be mid-edit
        versions["grip_views"] = f"import failed: {exc}"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "pushpin": pushpin,
        "versions": versions,
        "git": _git_commit(repo),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
