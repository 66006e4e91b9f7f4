"""``imgen report``: a self-contained HTML page of one or several runs, built from tiny real
runs: every image decodes, every number of metrics.jsonl is plotted, several runs share
their plots; matplotlib missing is one sentence."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from imgen.cli import cli
from imgen.report import AXES, Run, read_events, series_of, smoothed

pytest.importorskip("matplotlib")

TINY = [
    "--num-feat", "4", "--num-block", "1", "--crop", "32", "--batch-size", "2", "--scale", "2",
    "--gan-weight", "0", "--workers", "0", "--steps", "4", "--log-every", "2",
    "--sample-every", "2",
]  # fmt: skip


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, photo_folder) -> Path:
    """A folder of two tiny sr runs, ``a`` and ``b``, with sample grids at steps 2 and 4 and
    a validation at the end."""
    out = tmp_path_factory.mktemp("runs")
    for name, lr in (("a", "2e-4"), ("b", "1e-3")):
        result = invoke(
            "train", "sr", *TINY, "--data", str(photo_folder), "--eval-data",
            str(photo_folder), "--out", str(out), "--name", name, "--lr", lr,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    return out


class Page(HTMLParser):
    """The images, plotted metrics and manifest of a report."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.metrics: list[str] = []
        self._in_manifest = False
        self.manifest_text = ""
        self.text = path.read_text()
        self.feed(self.text)
        self.manifest = json.loads(self.manifest_text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "figure" and "data-metric" in attrs:
            self.metrics.append(attrs["data-metric"])
        if tag == "script":
            assert attrs.get("type") == "application/json", "the page runs no script"
            self._in_manifest = attrs.get("id") == "imgen-report"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_manifest = False

    def handle_data(self, data):
        if self._in_manifest:
            self.manifest_text += data


def decode(src: str) -> Image.Image:
    head, _, data = src.partition(",")
    assert head == "data:image/png;base64", head[:40]
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def numeric_keys(run: Path) -> set[str]:
    """``event/key`` of every number in the run's train and eval lines (axes aside)."""
    return {
        f"{event['event']}/{key}"
        for event in read_events(run / "metrics.jsonl")
        if event["event"] in ("train", "eval")
        for key, value in event.items()
        if key not in AXES and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def check_self_contained(page_path: Path) -> Page:
    page = Page(page_path)
    assert "http://" not in page.text and "https://" not in page.text  # nothing to fetch
    assert "<link" not in page.text
    for image in page.images:
        assert image["src"].startswith("data:")
        decoded = decode(image["src"])
        assert decoded.width > 50 and decoded.height > 50
        if "data-source" in image:  # a file of a run: it exists, the page holds its pixels
            source = page_path.parent / image["data-source"]
            assert source.is_file(), source
            with Image.open(source) as original:
                assert original.size == decoded.size
    return page


# -- one run ------------------------------------------------------------------------------------
def test_one_run_report_plots_every_metric_and_shows_the_latest_grid(runs):
    run = runs / "a"
    result = invoke("report", str(run))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(run / "report.html")
    page = check_self_contained(run / "report.html")

    keys = numeric_keys(run)
    assert {"train/pixel", "train/lr", "train/steps_per_s", "eval/psnr_y", "eval/ssim_y"} <= keys
    assert sorted(page.metrics) == sorted(keys)  # one plot per number, no more
    assert set(page.manifest["metrics"]) == keys
    events = read_events(run / "metrics.jsonl")
    assert page.manifest["metrics"]["train/pixel"] == {
        "a": len({e["step"] for e in events if e["event"] == "train"})
    }
    assert page.manifest["metrics"]["eval/psnr_y"] == {"a": 1}  # at the end

    samples = [image for image in page.images if "data-source" in image]
    assert [image["data-source"] for image in samples] == ["samples/step_000004.png"]
    plots = [image for image in page.images if "data-source" not in image]
    assert len(plots) == len(keys)

    # the validation table and the config
    eval_lines = [e for e in events if e["event"] == "eval"]
    assert f'<td class="num">{eval_lines[-1]["psnr_y"]:.3f}</td>' in page.text
    assert "<code>num_feat</code>" in page.text and "finished" in page.text


def test_samples_option_shows_the_latest_n_grids(runs, tmp_path):
    out = tmp_path / "page.html"
    assert invoke("report", str(runs / "a"), "-o", str(out), "--samples", "2").exit_code == 0
    page = check_self_contained(out)
    sources = [image["data-source"] for image in page.images if "data-source" in image]
    assert sources == [
        os.path.relpath(runs / "a" / "samples" / f"step_00000{n}.png", tmp_path) for n in (2, 4)
    ]
    assert invoke("report", str(runs / "a"), "-o", str(out), "--samples", "0").exit_code == 0
    assert not [i for i in Page(out).images if "data-source" in i]


# -- several runs -------------------------------------------------------------------------------
def test_two_runs_share_their_plots_on_one_page(runs):
    result = invoke("report", str(runs / "a"), str(runs / "b"))
    assert result.exit_code == 0, result.output
    path = runs / "report.html"  # the folder holding both
    assert result.output.strip() == str(path)
    page = check_self_contained(path)

    keys = numeric_keys(runs / "a") | numeric_keys(runs / "b")
    assert sorted(page.metrics) == sorted(keys)
    for name in keys:
        assert set(page.manifest["metrics"][name]) == {"a", "b"}, name  # the same axes
    assert [r["label"] for r in page.manifest["runs"]] == ["a", "b"]
    sources = sorted(image["data-source"] for image in page.images if "data-source" in image)
    assert sources == ["a/samples/step_000004.png", "b/samples/step_000004.png"]
    assert "Options that differ" in page.text and "<code>lr</code>" in page.text
    assert "Latest validation of each run" in page.text


def test_runs_with_the_same_folder_name_get_distinct_labels(runs, tmp_path):
    import shutil

    twin = tmp_path / "other" / "a"
    shutil.copytree(runs / "a", twin)
    out = tmp_path / "twins.html"
    assert invoke("report", str(runs / "a"), str(twin), "-o", str(out)).exit_code == 0
    labels = [r["label"] for r in Page(out).manifest["runs"]]
    assert len(set(labels)) == 2 and labels[1] == "other/a"


# -- errors -------------------------------------------------------------------------------------
def test_matplotlib_missing_is_one_sentence_and_nothing_is_written(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    out = tmp_path / "page.html"
    result = invoke("report", str(runs / "a"), "-o", str(out))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: imgen report needs the matplotlib package, which is not installed; install it "
        "with: pip install 'imgen[report]'"
    )
    assert not out.exists()


def test_a_folder_that_is_no_run_is_one_sentence(tmp_path):
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path} is not a run directory: it has no config.json" in result.output


def test_report_imports_no_torch(runs, tmp_path):
    """The page is made from the files alone: fast, and possible where torch is not."""
    script = (
        "import sys\nfrom imgen.cli import main\nsys.argv = ['imgen', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code or 0\n"
        "print(f\"exit={code} torch={'torch' in sys.modules}\", file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEN_")}
    proc = subprocess.run(
        [sys.executable, "-c", script, "report", str(runs / "a"), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.stderr.strip().splitlines()[-1] == "exit=0 torch=False", proc.stderr
    assert (tmp_path / "r.html").exists()


# -- reading metrics.jsonl ------------------------------------------------------------------------
def test_series_keep_the_later_value_of_a_step_logged_twice_and_skip_half_lines(tmp_path):
    lines = [
        {"event": "train", "step": 2, "minutes": 0.1, "pixel": 0.5, "lr": 1e-3},
        {"event": "train", "step": 4, "minutes": 0.2, "pixel": 0.4, "lr": 1e-3},
        {"event": "start", "step": 2, "resumed": True},  # resumed from step 2's checkpoint
        {"event": "train", "step": 4, "minutes": 0.2, "pixel": 0.3, "lr": 1e-3},
        {"event": "eval", "step": 4, "minutes": 0.2, "psnr": 30.0, "note": "text is no metric"},
        {"event": "train", "step": 6, "pixel": float("nan"), "lr": 1e-3},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"event": "tr')
    events = read_events(path)
    assert len(events) == len(lines)
    series = series_of(Run(tmp_path, "x", {}, events))
    assert series == {
        "train/pixel": [(2, 0.5), (4, 0.3)],  # step 6's NaN left out
        "train/lr": [(2, 1e-3), (4, 1e-3), (6, 1e-3)],
        "eval/psnr": [(4, 30.0)],
    }


def test_smoothing_is_a_debiased_moving_average():
    assert smoothed([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0
    ys = smoothed([0.0, 1.0] * 10)
    assert ys[0] == 0.0 and max(ys[4:]) - min(ys[4:]) < 0.5  # the zigzag flattened
