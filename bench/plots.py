"""PNG figures for the report (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import median


class Plots:
    def __init__(self, out: Path, caption: str):
        self.dir = out / "plots"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.caption = caption  # machine and command, printed under every figure

    def _save(self, fig, res, name: str) -> None:
        fig.text(0.01, 0.005, self.caption, fontsize=6, color="0.4", va="bottom")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = self.dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        res.plots.append(f"plots/{name}.png")

    def _bars(self, ax, groups, series, values, ylabel, log=False):
        width = 0.8 / len(series)
        for i, name in enumerate(series):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, [values[(grp, name)] for grp in groups], width, label=name)
        ax.set_xticks(range(len(groups)), groups, rotation=0, fontsize=8)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)

    def inproc(self, res, times, cases, labels, variants):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        values = {
            (c, lbl): median(times[(c, v)]) * 1e6
            for c in cases
            for v, lbl in zip(variants, labels, strict=True)
        }
        self._bars(ax, cases, labels, values, "µs per request (median)")
        ax.set_title("a1. Server cost per request, in process (lower is better)")
        self._save(fig, res, "a1_inproc")

    def bars(self, res, name, title, groups, series, ylabel, log=False):
        """Grouped bars: ``series`` maps a label to {group: value}."""
        fig, ax = plt.subplots(figsize=(10, 4.8))
        labels = list(series)
        values = {(g, lbl): series[lbl][g] for g in groups for lbl in labels}
        self._bars(ax, groups, labels, values, ylabel, log=log)
        ax.set_title(title)
        self._save(fig, res, name)

    def proxy(self, res, values, cases, labels, what, ylabel, name, title):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        self._bars(
            ax, cases, labels, {(c, lbl): values[(c, lbl)][what] for c in cases for lbl in labels}, ylabel
        )
        ax.set_title(title)
        self._save(fig, res, name)

    def codec(self, res, plot, labels):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        for ax, op in zip(axes, ("encode", "decode"), strict=True):
            for lib, idx, style in (("grip_views", 1, "o-"), ("gripcontrol", 2, "s--")):
                pts = [
                    (lbl, plot[(op, lbl)][idx])
                    for lbl in labels
                    if plot[(op, lbl)][idx] == plot[(op, lbl)][idx]
                ]
                ax.plot([p[0] for p in pts], [p[1] * 1e6 for p in pts], style, label=lib)
            ax.set_yscale("log")
            ax.set_title(f"{op}: time per event")
            ax.set_ylabel("µs per event (log)")
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("b. WebSocket-events codec (lower is better)")
        self._save(fig, res, "b_codec")

    def publish(self, res, values, title):
        fig, ax = plt.subplots(figsize=(7, 4))
        names = list(values)
        ax.bar(names, [values[n] for n in names], color=["C0", "C1", "C0", "C1"][: len(names)])
        ax.set_ylabel("messages per second (median)")
        ax.set_title(title)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        self._save(fig, res, "c_publish")

    def hold(self, res, series, levels):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for i, (name, points) in enumerate(series.items()):
            style = ":" if name.startswith("Pushpin") else "-"  # Pushpin is context, not Django
            marker = "osD^v"[i % 5]
            ax.plot(levels[: len(points)], [p / 2**20 for p in points], style, marker=marker, label=name)
        ax.set_xlabel("connections held")
        ax.set_ylabel("RSS (MiB)")
        ax.set_title("d. Memory while holding connections")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        self._save(fig, res, "d_hold_rss")

    def latency(self, res, series, levels):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, points in series.items():
            ax.plot(levels[: len(points)], [p * 1e3 for p in points], "o-", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("stream subscribers")
        ax.set_ylabel("ms from publish() returning to receipt")
        ax.set_title("e. Delivery latency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        self._save(fig, res, "e_latency")
