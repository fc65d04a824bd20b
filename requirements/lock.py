"""Regenerate the pins the test suite installs with: python3 requirements/lock.py

For each supported Python (3.10-3.13) it makes a clean virtualenv, installs the
newest releases that fit (pip, setuptools, wheel; the package with its ``dev``
extra; the benchmark packages; Django: 5.2 on Python < 3.12, 6.1 on 3.12+),
and freezes it. Then it writes

* requirements/constraints.txt: every package of those environments but
  Django, with ``== version``; a package whose version differs between
  Pythons gets one line per version with a ``python_version`` marker;
* requirements/django52.txt, django60.txt, django61.txt: the newest patch
  release of each supported Django series;
* bench/requirements.txt: its packages pinned to the same versions.

It then checks that every Python x Django pair of tox.ini resolves with those
pins (``pip install --dry-run``). Needs the four Pythons (pyenv, or python3.X
on PATH, or PYTHON310=... PYTHON311=... PYTHON312=... PYTHON313=...) and PyPI.
Review the diff, run ./runtests.sh, commit the changed files together.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQ = ROOT / "requirements"
BENCH_REQ = ROOT / "bench" / "requirements.txt"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DJANGO_SERIES = ["5.2", "6.0", "6.1"]
# Django the lock environment of each Python is built with (Django 6 needs 3.12+).
LOCK_DJANGO = {"3.10": "5.2", "3.11": "5.2", "3.12": "6.1", "3.13": "6.1"}
# The tox.ini matrix, checked against the pins.
PAIRS = [(py, "5.2") for py in PYTHONS] + [(py, dj) for py in ("3.12", "3.13") for dj in ("6.0", "6.1")]


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def vkey(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.]", version))


def find_python(version: str) -> str:
    override = os.environ.get("PYTHON" + version.replace(".", ""))
    if override:
        return override
    candidates = []
    if shutil.which("pyenv"):
        pyenv = ["pyenv", "prefix", version]
        prefix = subprocess.run(pyenv, capture_output=True, text=True)  # noqa: S603 - pyenv, found on PATH above
        if prefix.returncode == 0 and prefix.stdout.strip():
            candidates.append(str(Path(prefix.stdout.strip().splitlines()[0]) / "bin" / f"python{version}"))
    candidates.append(f"python{version}")
    for cand in candidates:
        path = shutil.which(cand) or (cand if os.access(cand, os.X_OK) else None)
        if not path:
            continue
        ask = [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        check = subprocess.run(ask, capture_output=True, text=True)  # noqa: S603 - a Python found above
        if check.returncode == 0 and check.stdout.strip() == version:
            return path
    variable = f"PYTHON{version.replace('.', '')}"
    sys.exit(f"lock.py: no Python {version} found (set {variable}=/path/to/python{version})")


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)  # noqa: S603 - the commands of this script


def bench_names() -> list[str]:
    names = []
    for line in BENCH_REQ.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            names.append(re.split(r"[<>=!~;\s\[]", spec, maxsplit=1)[0])
    return list(dict.fromkeys(names))


def newest(pip: list[str], requirement: str) -> str:
    out = run(
        *pip, "install", "-q", "--dry-run", "--ignore-installed", "--no-deps", "--report", "-", requirement,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)["install"][0]["metadata"]["version"]


def freeze_env(py_version: str, workdir: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    venv = workdir / f"py{py_version.replace('.', '')}"
    run(find_python(py_version), "-m", "venv", str(venv))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # Unconstrained by the old pins: the newest releases that fit.
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    run(*pip, "install", "-q", "-U", "pip", "setuptools", "wheel", env=env)
    series = LOCK_DJANGO[py_version]
    upper = series.split(".")[0] + "." + str(int(series.split(".")[1]) + 1)
    run(
        *pip, "install", "-q", "--no-build-isolation", f"Django>={series},<{upper}",
        "-e", f"{ROOT}[dev]", *bench_names(), env=env,
    )  # fmt: skip
    run(*pip, "check", env=env)
    lines = run(*pip, "freeze", "--all", "--exclude-editable", capture_output=True, text=True, env=env).stdout
    pins: dict[str, tuple[str, str]] = {}
    for line in lines.splitlines():
        if "==" not in line or line.startswith("#"):
            continue
        name, version = line.split("==", 1)
        pins[canon(name)] = (name, version.strip())
    return pins, pip


def marker(pythons: list[str]) -> str:
    """A python_version marker for a run of consecutive Pythons of PYTHONS."""
    lo, hi = PYTHONS.index(pythons[0]), PYTHONS.index(pythons[-1])
    if [PYTHONS[i] for i in range(lo, hi + 1)] != pythons:
        return " or ".join(f'python_version == "{p}"' for p in pythons)
    parts = []
    if lo > 0:
        parts.append(f'python_version >= "{PYTHONS[lo]}"')
    if hi < len(PYTHONS) - 1:
        parts.append(f'python_version < "{PYTHONS[hi + 1]}"')
    return " and ".join(parts)


def pin_lines(name: str, by_python: dict[str, str], pythons_present: list[str]) -> list[str]:
    versions = sorted(set(by_python.values()), key=vkey)
    if len(versions) == 1:
        return [f"{name}=={versions[0]}"]
    out = []
    for version in versions:
        pys = [p for p in pythons_present if by_python.get(p) == version]
        out.append(f"{name}=={version} ; {marker(pys)}")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="grip-views-lock-") as tmp:
        work = Path(tmp)
        frozen: dict[str, dict[str, tuple[str, str]]] = {}
        pips: dict[str, list[str]] = {}
        for py in PYTHONS:
            frozen[py], pips[py] = freeze_env(py, work)

        django = {s: newest(pips["3.13"], f"Django>={s},<{s[:2]}{int(s[2:]) + 1}") for s in DJANGO_SERIES}
        names: dict[str, str] = {}
        per_pkg: dict[str, dict[str, str]] = {}
        for py, pins in frozen.items():
            for key, (name, version) in pins.items():
                if key == "django":
                    continue
                names.setdefault(key, name)
                per_pkg.setdefault(key, {})[py] = version

        today = datetime.date.today().isoformat()
        header = [
            "# Exact versions of everything the test suite installs, Django aside (pinned per",
            "# series in requirements/django*.txt). Generated by `python3 requirements/lock.py`",
            f"# on {today} from clean virtualenvs of Python {', '.join(PYTHONS)} with",
            "# `-e .[dev]`, bench/requirements.txt and Django 5.2 (Python < 3.12) or 6.1.",
            "# Used as `pip install -c requirements/constraints.txt ...` by runtests.sh and tox.ini.",
            "# Do not edit by hand: change setup.py or bench/requirements.txt and regenerate.",
        ]
        body = []
        for key in sorted(per_pkg):
            by_python = per_pkg[key]
            # Fill the gaps, so a marker run stays contiguous: a Python that lacks the package
            # takes no pin from it, the neighbouring run covers it.
            filled = {}
            last = None
            for py in PYTHONS:
                if py in by_python:
                    last = by_python[py]
                if last is not None:
                    filled[py] = by_python.get(py, last)
            first = next(v for p, v in ((p, by_python.get(p)) for p in PYTHONS) if v)
            for py in PYTHONS:
                filled.setdefault(py, first)
            body += pin_lines(names[key], filled, PYTHONS)
        (REQ / "constraints.txt").write_text("\n".join(header + body) + "\n")

        for series, version in django.items():
            tag = series.replace(".", "")
            (REQ / f"django{tag}.txt").write_text(
                f"# Django {series}: the release the tests run with "
                "(requirements/lock.py picks the newest patch).\n"
                f"Django=={version}\n"
            )

        # bench/requirements.txt: same packages and comments, exact versions.
        out = []
        for line in BENCH_REQ.read_text().splitlines():
            spec, sep, comment = line.partition("#")
            if not spec.strip():
                out.append(line)
                continue
            name = re.split(r"[<>=!~;\s\[]", spec.strip(), maxsplit=1)[0]
            by_python = per_pkg[canon(name)]
            pins = pin_lines(names[canon(name)], by_python, [p for p in PYTHONS if p in by_python])
            for i, pin in enumerate(pins):
                text = pin if not sep or i else f"{pin:<23} #{comment}"
                out.append(text)
        BENCH_REQ.write_text("\n".join(out) + "\n")

        # Every pair of the tox matrix resolves with these pins.
        for py, series in PAIRS:
            tag = series.replace(".", "")
            run(
                *pips[py], "install", "-q", "--dry-run", "--ignore-installed", "--no-build-isolation",
                "-c", str(REQ / "constraints.txt"), "-r", str(REQ / f"django{tag}.txt"),
                "-e", f"{ROOT}[dev]", "-r", str(BENCH_REQ),
            )  # fmt: skip
        print(f"lock.py: wrote {REQ / 'constraints.txt'}, django*.txt and {BENCH_REQ}; Django {django}")


if __name__ == "__main__":
    main()
