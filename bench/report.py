"""RESULTS.md (Markdown tables and figures) and results.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def _md_table(headers, rows) -> str:
    out = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def _fmt(value: float, unit: str) -> str:
    if value != value:
        return "not measured"
    return f"{value:.2f}{unit}" if unit == "x" else f"{value:.2f} {unit}"


def write(out: Path, results, info: dict, command: str, elapsed: float, smoke: bool, started: list) -> Path:
    lines = [
        "# grip_views benchmarks" + (" (smoke run: tiny sizes, numbers meaningless)" if smoke else ""),
        "",
    ]
    lines.append(f"Command: `{command}` — whole run {elapsed / 60:.1f} min, {info['date']}.")
    lines.append("")
    lines.append(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"Linux {info['kernel']}, Python {info['python']}, {info['pushpin']}. "
        f"grip_views at git {info['git']}."
    )
    lines.append("")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".")
    lines.append("")
    lines.append(
        "Every figure is a median over several runs; every comparison is a ratio of "
        "two variants measured in the same run, interleaved. See bench/README.md "
        "for what each benchmark does."
    )
    lines.append("")

    targets = [(r, t) for r in results for t in r.targets]
    lines.append("## Targets")
    lines.append("")
    rows = []
    for _, t in targets:
        unit = t.unit if t.unit == "x" else " " + t.unit
        rows.append(
            [
                t.name,
                _fmt(t.value, t.unit),
                f"{t.kind} {t.limit:g}{unit}",
                "met" if t.met else "**missed**",
                t.note,
            ]
        )
    lines.append(_md_table(["target", "measured", "goal", "", "note"], rows))
    lines.append("")

    failed = [(r.key, c) for r in results for c in r.checks if not c.ok]
    total = sum(len(r.checks) for r in results)
    lines.append(f"Correctness checks: {total - len(failed)} of {total} passed.")
    for key, c in failed:
        lines.append(f"- FAILED ({key}): {c.name} {c.detail}")
    errors = [r for r in results if r.error]
    for r in errors:
        lines.append(f"- ERROR in {r.key}: `{r.error.splitlines()[-1] if r.error else ''}`")
    lines.append("")

    for r in results:
        lines.append(f"## {r.title}")
        lines.append("")
        if r.error:
            lines.append("This benchmark did not complete:")
            lines.append("")
            lines.append("```")
            lines.append(r.error.strip()[-3000:])
            lines.append("```")
            lines.append("")
        for caption, headers, rows in r.tables:
            lines.append(caption + ":")
            lines.append("")
            lines.append(_md_table(headers, rows))
            lines.append("")
        for note in r.notes:
            lines.append(f"- {note}")
        if r.notes:
            lines.append("")
        for p in r.plots:
            lines.append(f"![{r.key}]({p})")
            lines.append("")
        for case, text in r.data.get("profiles", {}).items():
            lines.append(f"<details><summary>Profile of grip_views, {case}</summary>")
            lines.append("")
            lines.append("```")
            lines.append(text)
            lines.append("```")
            lines.append("</details>")
            lines.append("")

    path = out / "RESULTS.md"
    path.write_text("\n".join(lines))
    (out / "results.json").write_text(
        json.dumps(
            {
                "command": command,
                "smoke": smoke,
                "started_processes": started,
                "elapsed_s": round(elapsed, 1),
                "machine": info,
                "benchmarks": {r.key: dataclasses.asdict(r) for r in results},
            },
            indent=1,
            default=str,
        )
    )
    return path
