"""A suite report as Markdown tables (readable in a terminal, pasted as is into READMEs).

``python -m imgen.bench RESULT.json`` prints the tables of a saved report.
"""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(header)))
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def machine_line(report: dict[str, Any]) -> str:
    m, v = report.get("machine", {}), report.get("versions", {})
    where = m.get("gpu") or f"{m.get('cpu', '?')} ({m.get('torch_threads')} threads)"
    mem = f", {m['gpu_memory_gb']} GiB" if m.get("gpu") else ""
    quick = " --quick" if report.get("settings", {}).get("quick") else ""
    return (
        f"{where}{mem}; torch {v.get('torch')}, imgen {v.get('imgen')}; "
        f"{report.get('date', '')}{quick}, {report.get('seconds', '?')} s"
    )


def training_table(report: dict[str, Any]) -> str:
    peak = report.get("peak", {})
    rows, skipped = [], {}
    for r in report.get("training", []):
        label = f"{r['task']}:{r['variant']}"
        if r.get("status") == "skipped":
            skipped.setdefault((r["mode"], r["reason"]), []).append(label)
            continue
        if r.get("status") != "ok":
            rows.append([label, r["mode"], "failed: " + r.get("error", "")] + ["-"] * 9)
            continue
        mode = r["mode"] + (f" (= {r['chosen']})" if r["mode"] == "fast" else "")
        gflop = r.get("flops_per_sample")
        rows.append(
            [
                label,
                mode,
                str(r["batch"]),
                str(r["crop"]),
                _fmt(r["samples_per_s"]),
                _fmt(r.get("speedup")),
                _fmt(r["step_ms"], 1),
                _fmt(r.get("peak_memory_mb"), 0),
                _fmt(gflop / 1e9 if gflop else None, 1),
                _fmt(r.get("tflops"), 3),
                _percent(r.get("peak_share")),
                r.get("note", "") if r["mode"] == "fast" else "",
            ]
        )
    header = [
        "task:variant",
        "mode",
        "batch",
        "crop",
        "samples/s",
        "x baseline",
        "ms/step",
        "peak MiB",
        "GFLOP/sample",
        "TFLOP/s",
        "of bf16 peak",
        "note",
    ]
    text = _table(header, rows, right=set(range(2, 11)))
    if peak:
        text += "\n\nMatmul peak measured in the same run: " + ", ".join(
            f"{k} {v['tflops']:.2f} TFLOP/s ({v['size']}^2)" for k, v in peak.items()
        )
    for (mode, reason), labels in skipped.items():
        text += f"\n- {mode} skipped ({', '.join(labels)}): {reason}"
    return text


def _chosen(summary: dict[str, Any]) -> str:
    return f" ({summary['fast_chosen']})" if summary.get("fast_chosen") else ""


def summary_table(report: dict[str, Any]) -> str:
    rows = [
        [
            f"{s['task']}:{s['variant']}",
            f"{s.get('batch')} x {s.get('crop')}",
            _fmt(s.get("baseline_samples_per_s")),
            _fmt(s.get("fast_samples_per_s")),
            _fmt(s.get("fast_speedup")) + _chosen(s),
            _percent(s.get("fast_peak_share")),
            _fmt(s.get("defaults_speedup")),
        ]
        for s in report.get("summary", [])
    ]
    header = [
        "task:variant",
        "batch x crop",
        "baseline samples/s",
        "fast samples/s",
        "fast x baseline",
        "fast, of bf16 peak",
        "defaults x baseline",
    ]
    return _table(header, rows)


def inference_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report.get("inference", []):
        label = f"{r['task']}:{r['variant']}"
        if r.get("status") != "ok":
            why = r.get("error") or r.get("reason", "")
            rows.append([label, r["precision"], r["how"], f"{r['status']}: {why}", "-", "-", "-"])
            continue
        how = r["how"] + (f" {r['tile']}+{r['overlap']}" if r.get("tile") else "")
        size = "x".join(map(str, r.get("input", []))) or "-"
        rows.append(
            [
                label,
                r["precision"],
                how,
                f"{size} -> {'x'.join(map(str, r['output']))}",
                _fmt(r["megapixels_per_s"], 3),
                _fmt(r["seconds"], 3),
                _fmt(r.get("peak_memory_mb"), 0),
            ]
        )
    header = ["task:variant", "precision", "how", "input -> output", "MP/s", "s", "peak MiB"]
    return _table(header, rows, right={4, 5, 6})


def data_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report.get("data", []):
        label = f"{r['task']}:{r['variant']}"
        if r.get("status") != "ok":
            rows.append([label, "failed: " + r.get("error", "")] + ["-"] * 6)
            continue
        rows.append(
            [
                label,
                _fmt(r.get("cache")),
                str(r.get("workers")),
                _fmt(r.get("loader_images_per_s"), 1),
                _fmt(r.get("prepare_images_per_s"), 1),
                _fmt(r.get("step_images_per_s"), 1),
                _fmt(r.get("headroom")),
                _percent(r.get("run_data_wait")),
            ]
        )
    header = [
        "task:variant",
        "cache",
        "workers",
        "loader img/s",
        "prepare img/s",
        "step img/s",
        "loader / step",
        "data wait (real run)",
    ]
    return _table(header, rows)


def data_sources_table(report: dict[str, Any]) -> str:
    d = report["data_sources"]
    base = {}
    for src in d["sources"]:
        if src.get("source") == "folder" and src.get("status") == "ok":
            base = {(r["crop"], r["degradation"]): r["crops_per_s"] for r in src["rows"]}
    rows = []
    for src in d["sources"]:
        if src.get("status") != "ok":
            rows.append([src["source"], "failed: " + src.get("error", "")] + ["-"] * 6)
            continue
        for r in src["rows"]:
            folder = base.get((r["crop"], r["degradation"]))
            rows.append(
                [
                    src["source"],
                    f"{r['crop']}, {r['degradation']}" + (" (LR stored)" if r["lr_stored"] else ""),
                    _fmt(r["crops_per_s"], 1),
                    f"{r['crops_per_s'] / folder:.1f}x" if folder else "-",
                    _fmt(src["startup_s"], 2),
                    _fmt(src["peak_rss_mb"], 0),
                    _fmt(src.get("dataset_rss_mb"), 0),
                ]
            )
    header = [
        "source",
        "GT crop, degradation",
        "crops/s per core",
        "vs 2K PNGs",
        "start-up s",
        "peak RSS MB",
        "dataset RSS MB",
    ]
    options = " ".join(f"--{k} {v}" for k, v in d.get("prepare_options", {}).items())
    line = (
        f"{d.get('task', '')}: {d['images']} PNGs of {d['image_size']} ({d['folder_mb']:.0f} "
        f"MB); imgen prepare {options}: "
        f"{d['prepare_s']:.1f} s on {d['prepare_workers']} cores, "
        f"{d['sub_images']} sub-images, {d['prepared_mb']:.0f} MB of shards"
    )
    text = line + "\n\n" + _table(header, rows)
    if d.get("demand"):
        from imgen.bench.demand import demand_lines

        text += "\n\nLoader workers a GPU needs:\n" + "\n".join(
            f"- {x}" for x in demand_lines(d["demand"])
        )
    return text


def degradation_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report.get("degradation", []):
        if r.get("status") != "ok":
            rows.append([r["degradation"], "failed: " + r.get("error", ""), "-", "-", "-"])
            continue
        rows.append(
            [
                r["degradation"],
                f"{r['batch']} x {r['crop']}, x{r['scale']}",
                _fmt(r["megapixels_per_s"], 2),
                _fmt(r["ms_per_batch"], 1),
                _fmt(r.get("draw_ms_per_sample"), 2),
            ]
        )
    header = ["degradation", "batch x crop", "HR MP/s", "ms/batch", "draw ms/sample (loader)"]
    return _table(header, rows)


def metrics_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report.get("metrics", []):
        if r.get("status") != "ok":
            rows.append([r["metric"], "failed: " + r.get("error", ""), "-", "-"])
            continue
        rows.append(
            [
                r["metric"],
                _fmt(r["imgen_megapixels_per_s"], 1),
                _fmt(r["skimage_megapixels_per_s"], 1),
                f"{r['max_abs_diff']:.1e}",
            ]
        )
    header = ["metric", "imgen MP/s", "scikit-image MP/s", "max abs difference"]
    return _table(header, rows)


def render(report: dict[str, Any]) -> str:
    """Every section of ``report`` that ran, as Markdown."""
    parts = [f"imgen bench: {machine_line(report)}"]
    sections = [
        ("summary", "Summary", summary_table),
        ("training", "Training throughput", training_table),
        ("inference", "Inference", inference_table),
        ("data", "Data pipeline", data_table),
        ("data_sources", "Training crops by data source (one core)", data_sources_table),
        ("degradation", "Degradation", degradation_table),
        ("metrics", "Metrics", metrics_table),
    ]
    for key, title, fn in sections:
        if report.get(key):
            parts.append(f"### {title}\n\n{fn(report)}")
    notes = [f"- {label}: {n}" for label, ns in report.get("notes", {}).items() for n in ns]
    if notes:
        parts.append("Notes from the tasks:\n" + "\n".join(notes))
    return "\n\n".join(parts) + "\n"
