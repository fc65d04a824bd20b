"""The README's code that users copy is the demo's code, verbatim, so it cannot drift.

In the sections below every ``.. code-block:: python`` is made of parts that
each open with a ``# demo/<path>.py`` line naming a file of the demo (in a
``.. code-block:: html+django``, a ``{# demo/<path>.html #}`` line); each
part must appear in that file as it is (indented as a whole or not). The
demo's own tests (tests/test_demo_app.py) and the end-to-end ones run that
code, so the README's is run too.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
#: The sections whose code is the demo's.
SECTIONS = [
    "Quickstart",
    "A chat room",
    "A complete example",
    "Snapshot, then changes",
    "Presence",
    "Live HTML",
]

_HEADING = re.compile(r"^(\S.*)\n([-=~^]+)$", re.MULTILINE)
_FILE_MARKER = re.compile(r"^# (demo/\S+\.py)$")
#: A template's parts open with ``{# demo/<path>.html #}`` instead.
_TEMPLATE_MARKER = re.compile(r"^\{# (demo/\S+\.html) #\}$")


def _section(text: str, title: str) -> str:
    """The body of the section titled ``title``, up to the next heading."""
    headings = [m for m in _HEADING.finditer(text) if len(m.group(2)) == len(m.group(1))]
    for heading, after in zip(headings, [*headings[1:], None], strict=True):
        if heading.group(1) == title:
            return text[heading.end() : after.start() if after else len(text)]
    raise AssertionError(f"README.rst has no section {title!r}")


def _python_blocks(section: str, language: str = "python") -> list[str]:
    """The ``.. code-block:: <language>`` blocks of a section, dedented."""
    blocks = []
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != f".. code-block:: {language}":
            continue
        body: list[str] = []
        for line in lines[i + 1 :]:
            if line.strip() and not line.startswith(" "):
                break
            body.append(line)
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
    return blocks


def _parts(block: str, file_marker: re.Pattern[str] = _FILE_MARKER) -> list[tuple[str, list[str]]]:
    """A block as (demo file, lines of code) parts, split at its ``# demo/...py`` lines."""
    lines = block.splitlines()
    assert file_marker.match(lines[0]), f"a code block must open with a demo file's name: {lines[0]!r}"
    parts: list[tuple[str, list[str]]] = []
    for line in lines:
        marker = file_marker.match(line)
        if marker:
            parts.append((marker.group(1), []))
        else:
            parts[-1][1].append(line)
    return [(path, "\n".join(code).strip("\n").splitlines()) for path, code in parts]


def _snippets() -> list[tuple[str, str, list[str]]]:
    text = README.read_text(encoding="utf-8")
    found = []
    for title in SECTIONS:
        blocks = _python_blocks(_section(text, title))
        assert blocks, f"README.rst section {title!r} lost its code blocks"
        found += [(title, path, code) for block in blocks for path, code in _parts(block)]
        for block in _python_blocks(_section(text, title), "html+django"):
            found += [(title, path, code) for path, code in _parts(block, _TEMPLATE_MARKER)]
    return found


def _matching_lines(snippet: list[str], lines: list[str], start: int) -> int:
    """How many lines of ``snippet`` match ``lines`` from ``start``, all shifted by one indent."""
    first = lines[start]
    indent = first[: len(first) - len(snippet[0])]
    if indent.strip() or not first.endswith(snippet[0]):
        return 0
    count = 0
    for want, have in zip(snippet, lines[start:], strict=False):
        if (want.strip() or have.strip()) and have != indent + want:
            break
        count += 1
    return count


SNIPPETS = _snippets()


@pytest.mark.parametrize(
    ("title", "path", "code"), SNIPPETS, ids=[f"{title}-{path}" for title, path, _ in SNIPPETS]
)
def test_readme_code_is_the_demos_code_verbatim(title: str, path: str, code: list[str]) -> None:
    source = ROOT / path
    assert source.is_file(), f"README.rst, {title}: {path} does not exist"
    lines = source.read_text(encoding="utf-8").splitlines()
    best = max((_matching_lines(code, lines, i) for i in range(len(lines))), default=0)
    assert best == len(code), (
        f"README.rst, {title}: the code under '# {path}' is not in {path} verbatim; "
        f"the first line that differs is {code[best]!r} (update the README from the file)"
    )


def test_every_section_names_the_demo_files_it_shows() -> None:
    shown = {(title, path) for title, path, _ in SNIPPETS}
    assert ("Quickstart", "demo/demo/views.py") in shown
    assert ("A chat room", "demo/demo/chat.py") in shown
    assert ("A chat room", "demo/demo/urls.py") in shown
    assert ("A complete example", "demo/demo_api/views.py") in shown
    assert ("Presence", "demo/demo/chat.py") in shown
    assert ("Live HTML", "demo/demo_api/models.py") in shown
    assert ("Live HTML", "demo/demo/templates/demo/todos.html") in shown  # templates are checked too


def test_a_changed_line_is_caught() -> None:
    _, path, code = SNIPPETS[0]
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    changed = [*code[:-1], code[-1] + "  # changed"]
    assert max(_matching_lines(changed, lines, i) for i in range(len(lines))) == len(code) - 1
    indented = [line and "    " + line for line in code]
    assert max(_matching_lines(code, indented, i) for i in range(len(indented))) == len(code)
