"""``imgen report``: one self-contained HTML page about one or several run directories.

The page shows each run's loss and metric curves (``metrics.jsonl``'s ``train`` and ``eval``
lines, one plot per number, every run on the same axes), its latest sample grids, its
validation results as tables and its config. Everything is inside the file: the plots
(drawn with matplotlib, the ``report`` extra) and the sample grids are PNG ``data:`` URIs and
the style sheet is inline; no script runs, so the page opens anywhere and can be mailed.

What the page shows is also listed for programs: each plot's ``<figure>`` has a
``data-metric`` attribute (``"train/pixel"``, ``"eval/psnr_y"``), each image a
``data-source`` (the file it came from, relative to the page; plots have none), and a
``<script type="application/json" id="imgen-report">`` element holds the manifest: the runs,
the plotted series with their number of points per run, and the images.

Torch-free: the page is built from the run directory's files alone.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgen.engine.rundir import CONFIG, METRICS, read_config
from imgen.errors import UsageError

REPORT = "report.html"
# The events whose numbers are plotted, and the keys of an event that are no metric.
PLOTTED_EVENTS = ("eval", "train")
AXES = frozenset({"event", "time", "step", "minutes"})
# Train keys that describe the run's speed and schedule rather than its losses: drawn last.
PACE = ("lr", "steps_per_s", "data_wait")
# Train curves of at least this many points are also drawn smoothed (EMA of this weight).
SMOOTH_FROM = 8
SMOOTHING = 0.6
UNSMOOTHED = frozenset({"train/lr"})  # exact values: smoothing would only shift them
COLOURS = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
]  # fmt: skip


@dataclass
class Run:
    """What the page shows of one run directory."""

    path: Path
    label: str
    info: dict[str, Any]  # config.json
    events: list[dict[str, Any]]
    samples: list[Path] = field(default_factory=list)  # the latest sample grids, oldest first

    @property
    def config(self) -> dict[str, Any]:
        return self.info.get("config", {})


# -- reading ------------------------------------------------------------------------------------
def read_events(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``metrics.jsonl``; a line that is not JSON (a run writing it right now
    leaves half a line) is skipped."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            events.append(record)
    return events


def sample_step(path: Path) -> int:
    match = re.search(r"(\d+)$", path.stem)
    return int(match.group(1)) if match else -1


def load_run(path: str | Path, label: str, samples: int = 1) -> Run:
    """Read a run directory (``config.json`` is required, the rest may be missing)."""
    path = Path(path)
    config = path / CONFIG
    if not config.is_file():
        raise UsageError(f"{path} is not a run directory: it has no {CONFIG}")
    info = read_config(path)
    grids = sorted((path / "samples").glob("step_*.png"), key=sample_step)
    return Run(
        path=path,
        label=label,
        info=info,
        events=read_events(path / METRICS),
        samples=grids[-samples:] if samples > 0 else [],
    )


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Short unique names of the runs: their folder names, with parents where two share one."""
    resolved = [p.resolve() for p in paths]
    depth = 1
    while True:
        labels = ["/".join(p.parts[-depth:]) for p in resolved]
        if len(set(labels)) == len(labels) or depth > max(len(p.parts) for p in resolved):
            return labels
        depth += 1


# -- the numbers --------------------------------------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def series_of(run: Run) -> dict[str, list[tuple[int, float]]]:
    """``{"train/pixel": [(step, value), ...], "eval/psnr_y": [...]}`` of one run.

    A step logged twice (a run resumed from a checkpoint older than its last lines) keeps its
    later value. Non-finite values are left out of the points but keep their series.
    """
    found: dict[str, dict[int, float]] = {}
    for event in run.events:
        kind = event.get("event")
        if kind not in PLOTTED_EVENTS or not is_number(event.get("step")):
            continue
        for key, value in event.items():
            if key in AXES or not is_number(value):
                continue
            points = found.setdefault(f"{kind}/{key}", {})
            if math.isfinite(value):
                points[int(event["step"])] = float(value)
            else:
                points.pop(int(event["step"]), None)
    return {name: sorted(points.items()) for name, points in found.items()}


def metric_order(name: str) -> tuple[int, str]:
    """Validation first, then losses, then the pace of the run (lr, speed, data wait)."""
    kind, _, key = name.partition("/")
    if kind == "eval":
        return (0, key)
    if key in PACE:
        return (2, f"{PACE.index(key)}")
    return (1, key)


def eval_table(run: Run) -> tuple[list[str], list[tuple[int, dict[str, float]]]]:
    """The metric names and the rows (step, values) of a run's validations."""
    rows: dict[int, dict[str, float]] = {}
    names: dict[str, None] = {}
    for event in run.events:
        if event.get("event") != "eval" or not is_number(event.get("step")):
            continue
        values = {k: v for k, v in event.items() if k not in AXES and is_number(v)}
        names.update(dict.fromkeys(values))
        rows[int(event["step"])] = values
    return list(names), sorted(rows.items())


def higher_is_better(metric: str) -> bool | None:
    """Whether a larger value of ``metric`` is better, as its registration says (None when
    the registries cannot tell: an unregistered or suffixed name)."""
    try:
        from imgen.plugins import registries

        metrics = registries().metrics
        if metric in metrics:
            return bool(metrics.entry(metric).meta.get("higher_is_better", True))
    except Exception:  # the page does not depend on the plugins
        return None
    return None


def status(run: Run) -> str:
    ends = ("start", "end", "interrupted", "diverged")
    kinds = [e.get("event") for e in run.events]
    last = next((k for k in reversed(kinds) if k in ends), None)
    return {
        "end": "finished",
        "interrupted": "interrupted",
        "diverged": "diverged",
        "start": "running, or stopped without a word",
        None: "no training logged",
    }[last]


def gan_switch(run: Run) -> int | None:
    """The last step of a two-phase run's pixel-loss phase (sr's --pretrain-steps), if any."""
    config = run.config
    pretrain, total = config.get("pretrain_steps"), config.get("steps")
    if not (is_number(pretrain) and pretrain > 0 and is_number(config.get("gan_weight"))):
        return None
    if config["gan_weight"] <= 0 or (is_number(total) and pretrain >= total):
        return None
    return int(pretrain)


def phases_text(run: Run) -> str:
    """``pixel loss 1-70, GAN 71-100`` for a two-phase run, else ''."""
    switch = gan_switch(run)
    if switch is None:
        return ""
    total = run.config.get("steps")
    return f"pixel loss 1-{switch}, GAN {switch + 1}-{total}"


# -- drawing ------------------------------------------------------------------------------------
def matplotlib_figure() -> Any:
    """The matplotlib ``Figure`` class, or the sentence saying how to install matplotlib."""
    from imgen.extras import require

    require("matplotlib", "imgen report", "pip install 'imgen[report]'")
    from matplotlib.figure import Figure

    return Figure


def plot_png(
    figure_class: Any,
    name: str,
    lines: list[tuple[str, str, list[tuple[int, float]]]],
    switches: Sequence[tuple[str, int]] = (),
) -> bytes:
    """One metric's curves, one line per run (``(label, colour, points)``), as a PNG; a
    dotted vertical line in a run's colour at each ``(colour, step)`` of ``switches`` (where
    a two-phase run's GAN phase begins)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = figure_class(figsize=(4.6, 2.9), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    evaluation = name.startswith("eval/")
    smooth = not evaluation and name not in UNSMOOTHED
    values = [v for _, _, points in lines for _, v in points]
    for label, colour, points in lines:
        if not points:
            continue
        steps, ys = zip(*points, strict=True)
        if smooth and len(points) >= SMOOTH_FROM:  # noisy losses: light, then smoothed
            axes.plot(steps, ys, color=colour, linewidth=0.9, alpha=0.3)
            ys = smoothed(ys)
        axes.plot(
            steps,
            ys,
            color=colour,
            label=label,
            linewidth=1.4,
            marker="o" if evaluation or len(points) < 3 else None,
            markersize=3.5,
        )
    for colour, step in switches:
        axes.axvline(step, color=colour, linestyle=":", linewidth=1.0)
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if values and min(values) > 0 and max(values) / min(values) > 50:
        axes.set_yscale("log")  # losses falling over decades
    elif isinstance(axes.yaxis.get_major_formatter(), ScalarFormatter):
        axes.yaxis.get_major_formatter().set_useOffset(False)  # 30.76, not +3.076e1 and 0.004
    axes.set_title(name, fontsize=10, loc="left")
    axes.set_xlabel("step", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.grid(True, color="#dddddd", linewidth=0.6)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if len(lines) > 1:
        axes.legend(fontsize=7, frameon=False)
    if not values:
        axes.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def smoothed(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """An exponential moving average of ``values``, debiased (as TensorBoard smooths)."""
    out, average = [], 0.0
    for index, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**index))
    return out


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


# -- the page -----------------------------------------------------------------------------------
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1400px; padding: 16px 24px; background: #fff; }
h1 { font-size: 22px; margin: 4px 0 2px; }
h2 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
.sub { color: #666; font-size: 12px; }
.chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
        margin-right: 5px; vertical-align: baseline; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f6f6f6; font-weight: 600; } td.num { text-align: right;
     font-variant-numeric: tabular-nums; } td.best { font-weight: 700; }
tr.differs td { background: #fff8e1; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 8px; }
figure { margin: 0; } figure img { height: auto; display: block; } .plots img { width: 100%; }
figcaption { font-size: 12px; color: #555; margin: 2px 0 10px; }
.samples { display: flex; flex-wrap: wrap; gap: 4px 24px; align-items: flex-start; }
.samples > div { max-width: 100%; }
.samples img { max-width: 100%; image-rendering: pixelated; }
details summary { cursor: pointer; color: #444; margin: 4px 0; }
code { font-size: 12px; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.3f}"


def chip(colour: str) -> str:
    return f'<span class="chip" style="background:{colour}"></span>'


def build_page(runs: Sequence[Run], page: Path) -> tuple[str, dict[str, Any]]:
    """The HTML of the report on ``runs`` written at ``page`` (image sources are named
    relative to it), and its manifest."""
    figure_class = matplotlib_figure()
    colours = {run.label: COLOURS[i % len(COLOURS)] for i, run in enumerate(runs)}
    per_run = {run.label: series_of(run) for run in runs}
    names = sorted({n for s in per_run.values() for n in s}, key=metric_order)
    manifest: dict[str, Any] = {
        "generator": "imgen report",
        "runs": [
            {"label": run.label, "path": rel(run.path, page), "task": run.info.get("task")}
            for run in runs
        ],
        "metrics": {},
        "images": [],
    }
    parts = [header(runs, colours), summary_table(runs, colours)]

    parts.append("<h2>Validation</h2>")
    parts.append(validation(runs, colours))

    parts.append(
        '<h2>Curves</h2><p class="sub">one plot per number of metrics.jsonl; train curves of '
        f"{SMOOTH_FROM} points or more (but lr) are drawn light as logged and dark smoothed "
        f"(exponential moving average, weight {SMOOTHING}); a dotted line marks the step "
        "after which a two-phase run's GAN phase begins.</p>"
    )
    if not names:
        parts.append('<p class="sub">metrics.jsonl has no train or eval lines yet.</p>')
    figures = []
    switches = [(colours[run.label], step) for run in runs if (step := gan_switch(run)) is not None]
    for name in names:
        lines = [(run.label, colours[run.label], per_run[run.label].get(name, [])) for run in runs]
        manifest["metrics"][name] = {label: len(points) for label, _, points in lines if points}
        png = plot_png(figure_class, name, lines, switches)
        manifest["images"].append({"kind": "plot", "metric": name})
        figures.append(
            f'<figure data-metric="{esc(name)}"><img alt="{esc(name)}" '
            f'src="{data_uri(png)}"></figure>'
        )
    parts.append(f'<div class="plots">{"".join(figures)}</div>')

    parts.append('<h2>Samples</h2><div class="samples">')
    for run in runs:
        parts.append(f"<div><h3>{chip(colours[run.label])}{esc(run.label)}</h3>")
        if not run.samples:
            parts.append('<p class="sub">no sample grid yet (samples/ is empty).</p>')
        for grid in run.samples:
            source = rel(grid, page)
            manifest["images"].append({"kind": "samples", "run": run.label, "source": source})
            parts.append(
                f'<figure><img alt="samples of {esc(run.label)} at step {sample_step(grid)}" '
                f'data-source="{esc(source)}" width="{shown_width(grid)}" '
                f'src="{data_uri(grid.read_bytes())}"><figcaption>step {sample_step(grid):,} '
                f"&middot; <code>{esc(source)}</code></figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</div>")

    parts.append("<h2>Config</h2>")
    parts.append(config_tables(runs, colours))

    manifest_json = json.dumps(manifest, indent=1).replace("</", "<\\/")
    title = "imgen report: " + ", ".join(run.label for run in runs)
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + f'\n<script type="application/json" id="imgen-report">{manifest_json}</script>'
        + "\n</body></html>\n"
    )
    return document, manifest


def shown_width(grid: Path) -> int:
    """The width a sample grid is shown at: its own, or 2-4 times it (whole pixels) when it
    is small (a 32-pixel crop)."""
    from PIL import Image

    with Image.open(grid) as image:
        width = image.width
    return width * max(1, min(4, 480 // max(width, 1)))


def rel(path: Path, page: Path) -> str:
    return Path(os.path.relpath(path.resolve(), page.resolve().parent)).as_posix()


def header(runs: Sequence[Run], colours: dict[str, str]) -> str:
    from imgen import __version__

    names = " &middot; ".join(f"{chip(colours[r.label])}{esc(r.label)}" for r in runs)
    when = time.strftime("%Y-%m-%d %H:%M")
    return (
        f"<h1>imgen report</h1><div>{names}</div>"
        f'<div class="sub">made {when} by imgen {esc(__version__)} from config.json, '
        f"metrics.jsonl and samples/</div>"
    )


def summary_table(runs: Sequence[Run], colours: dict[str, str]) -> str:
    rows = []
    for run in runs:
        steps = [e["step"] for e in run.events if is_number(e.get("step"))]
        minutes = [e["minutes"] for e in run.events if is_number(e.get("minutes"))]
        start = next((e for e in run.events if e.get("event") == "start"), {})
        best = next((e for e in reversed(run.events) if e.get("event") == "best"), None)
        best_text = ""
        if best:
            metric = next((k for k in best if k not in AXES), None)
            if metric:
                best_text = f"{esc(metric)} {number(best[metric])} at step {best['step']:,}"
        nets = run.info.get("nets", {})
        networks = ", ".join(
            f"{esc(k)}: {esc(v.get('class', '?'))} ({number(v.get('parameters', 0))})"
            for k, v in nets.items()
            if isinstance(v, dict)
        )
        total = run.config.get("steps")
        done = f"{max(steps):,}" if steps else "0"
        rows.append(
            f"<tr><td>{chip(colours[run.label])}{esc(run.label)}</td>"
            f"<td>{esc(run.info.get('task', '?'))}</td>"
            f'<td class="num">{done} / {number(total) if total is not None else "?"}</td>'
            f"<td>{esc(status(run))}{'<br>' + esc(phases_text(run)) if phases_text(run) else ''}"
            "</td>"
            f'<td class="num">{number(max(minutes)) if minutes else ""}</td>'
            f"<td>{esc(start.get('device', ''))} {esc(start.get('precision', ''))}</td>"
            f"<td>{best_text}</td><td>{networks}</td></tr>"
        )
    return (
        "<h2>Runs</h2><table><tr><th>run</th><th>task</th><th>steps</th><th>status</th>"
        "<th>train min</th><th>device</th><th>best validation</th><th>networks</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def validation(runs: Sequence[Run], colours: dict[str, str]) -> str:
    tables = {run.label: eval_table(run) for run in runs}
    if not any(rows for _, rows in tables.values()):
        return (
            '<p class="sub">no validation yet: train with --eval-data DIR (and --eval-every N).</p>'
        )
    out = []
    if len(runs) > 1:  # the latest validation of each run, side by side
        names = list(dict.fromkeys(n for ns, _ in tables.values() for n in ns))
        latest = {label: rows[-1] for label, (_, rows) in tables.items() if rows}
        best = {}
        for name in names:
            values = [v[name] for _, v in latest.values() if name in v]
            direction = higher_is_better(name)
            if values and direction is not None:
                best[name] = max(values) if direction else min(values)
        head = "".join(f"<th>{esc(n)}</th>" for n in names)
        rows = []
        for run in runs:
            if run.label not in latest:
                continue
            step, values = latest[run.label]
            cells = "".join(
                '<td class="num best">' + number(values[name]) + "</td>"
                if name in values and values[name] == best.get(name)
                else f'<td class="num">{number(values[name]) if name in values else ""}</td>'
                for name in names
            )
            rows.append(
                f"<tr><td>{chip(colours[run.label])}{esc(run.label)}</td>"
                f'<td class="num">{step:,}</td>{cells}</tr>'
            )
        out.append(
            "<h3>Latest validation of each run</h3>"
            f"<table><tr><th>run</th><th>step</th>{head}</tr>{''.join(rows)}</table>"
        )
    for run in runs:
        names, rows = tables[run.label]
        if not rows:
            continue
        head = "".join(f"<th>{esc(n)}</th>" for n in names)
        body = "".join(
            f'<tr><td class="num">{step:,}</td>'
            + "".join(f'<td class="num">{number(v[n]) if n in v else ""}</td>' for n in names)
            + "</tr>"
            for step, v in rows
        )
        table = f"<table><tr><th>step</th>{head}</tr>{body}</table>"
        title = f"{chip(colours[run.label])}{esc(run.label)}: every validation"
        if len(runs) > 1:
            out.append(f"<details><summary>{title}</summary>{table}</details>")
        else:
            out.append(f"<h3>{title}</h3>{table}")
    return "".join(out)


def config_tables(runs: Sequence[Run], colours: dict[str, str]) -> str:
    keys = list(dict.fromkeys(k for run in runs for k in run.config))
    differs = [k for k in keys if len({json.dumps(r.config.get(k)) for r in runs}) > 1]
    same = [k for k in keys if k not in differs]
    head = "".join(f"<th>{chip(colours[r.label])}{esc(r.label)}</th>" for r in runs)

    def row(key: str, css: str = "") -> str:
        cells = "".join(f"<td>{esc(show(r.config.get(key, '')))}</td>" for r in runs)
        return f'<tr class="{css}"><td><code>{esc(key)}</code></td>{cells}</tr>'

    out = []
    if len(runs) > 1:
        out.append(
            "<h3>Options that differ</h3>"
            + (
                f"<table><tr><th>option</th>{head}</tr>"
                + "".join(row(k, "differs") for k in differs)
                + "</table>"
                if differs
                else '<p class="sub">none: the runs share every option.</p>'
            )
        )
        out.append(
            f"<details><summary>The {len(same)} options they share</summary>"
            f"<table><tr><th>option</th>{head}</tr>{''.join(row(k) for k in same)}</table>"
            "</details>"
        )
    else:
        out.append(f"<table><tr><th>option</th>{head}</tr>{''.join(row(k) for k in keys)}</table>")
    versions = "; ".join(
        f"{esc(r.label)}: " + ", ".join(f"{esc(k)} {esc(v)}" for k, v in r.info["versions"].items())
        for r in runs
        if r.info.get("versions")
    )
    if versions:
        out.append(f'<p class="sub">versions: {versions}</p>')
    return "".join(out)


def show(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# -- writing ------------------------------------------------------------------------------------
def default_output(run_dirs: Sequence[Path]) -> Path:
    """``RUN/report.html`` for one run; for several, ``report.html`` in the folder holding
    them all (``runs/report.html`` for ``runs/a runs/b``)."""
    if len(run_dirs) == 1:
        return run_dirs[0] / REPORT
    common = Path(os.path.commonpath([str(p.resolve()) for p in run_dirs]))
    return common / REPORT


def write_report(
    run_dirs: Sequence[str | Path], output: str | Path | None = None, *, samples: int = 1
) -> Path:
    """Write the report on ``run_dirs`` (see :func:`default_output`); returns its path.

    Raises :class:`imgen.errors.UsageError` for a folder that is not a run directory and when
    matplotlib is missing, before anything is written.
    """
    if not run_dirs:
        raise UsageError("give at least one run directory")
    paths = [Path(p) for p in run_dirs]
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(p.resolve(), None)
    if len(seen) != len(paths):
        raise UsageError("a run directory is given twice; give each run once")
    labels = run_labels(paths)
    runs = [load_run(p, label, samples) for p, label in zip(paths, labels, strict=True)]
    matplotlib_figure()  # missing: one sentence, nothing written
    page = Path(output) if output is not None else default_output(paths)
    document, _ = build_page(runs, page)
    page.parent.mkdir(parents=True, exist_ok=True)
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(page)
    return page
