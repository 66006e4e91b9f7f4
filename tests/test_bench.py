"""``imgen bench``: the report's keys, the modes it measures or skips, FLOP counts, metric
agreement with scikit-image, and how ``fast`` is chosen. Behaviour, not timing values."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from imgen.bench import modes as bench_modes
from imgen.bench.flops import count_flops, matmul_peak
from imgen.bench.timing import PeakMemory
from imgen.bench.training import VariantRun
from imgen.bench.variants import Variant, select, task_variants
from imgen.cli import cli
from imgen.errors import UsageError
from imgen.plugins import create_task
from imgen.task import Task

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

# A model small enough that every section runs in seconds on a busy CPU.
MICRO = [
    "--device",
    "cpu",
    "--quick",
    "--steps",
    "1",
    "--warmup",
    "0",
    "--crop",
    "32",
    "--batch-size",
    "2",
    "--size",
    "32",
    "--set",
    "num_block=1",
    "--set",
    "num_feat=8",
    "--images",
    "1",
]


@pytest.fixture
def one_thread():
    """One torch thread: on a shared CPU, two contending threads make each step 5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def micro_report(tmp_path_factory):
    """One micro run of the whole suite through the CLI: (report, stdout)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("bench") / "result.json"
        args = ["bench", "sr:srresnet", *MICRO, "--modes", "baseline,fp16", "--json", str(path)]
        result = CliRunner().invoke(cli, args)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text()), result.stdout


def rows_by_mode(report: dict) -> dict[str, dict]:
    return {row["mode"]: row for row in report["training"]}


# -- the report ------------------------------------------------------------------------------


def test_report_names_machine_versions_and_settings(micro_report):
    report, _ = micro_report
    assert {"date", "machine", "versions", "settings", "peak", "seconds"} <= set(report)
    assert {"cpu", "cpu_count", "memory_gb", "torch_threads", "platform"} <= set(report["machine"])
    assert report["versions"]["torch"] == torch.__version__
    assert {"imgen", "python", "numpy", "plugins"} <= set(report["versions"])
    settings = report["settings"]
    assert settings["device"] == "cpu" and settings["quick"] is True
    assert settings["modes"] == ["baseline", "fp16"]
    assert settings["profile"]["steps"] == 1
    assert settings["overrides"] == {"num_block": 1, "num_feat": 8, "batch_size": 2, "crop": 32}
    assert "VmHWM" in settings["peak_memory"]  # says what the CPU's memory column means
    assert settings["variants"] == {"sr:srresnet": {"options": {"generator": "srresnet"}}}
    for dtype in ("bf16", "fp32"):
        assert report["peak"][dtype]["tflops"] > 0


def test_baseline_row_is_measured_with_flops_memory_and_settings(micro_report):
    report, _ = micro_report
    row = rows_by_mode(report)["baseline"]
    assert row["status"] == "ok"
    assert (row["batch"], row["crop"]) == (2, 32)
    assert row["shapes"] == {"lr": [3, 8, 8], "hr": [3, 32, 32]}  # SR x4 of 32x32 crops
    assert row["samples_per_s"] > 0 and row["step_ms"] > 0 and row["steps"] == 1
    assert row["settings"] == {
        "precision": "fp32",
        "channels_last": False,
        "optimizer": "plain",
        "compile": None,
    }
    assert row["parameters"]["G"] > 0 and row["parameters"]["D"] > 0  # D and G updates
    assert row["flops_per_sample"] > 0
    assert row["tflops"] > 0 and row["peak_share"] > 0
    assert row["speedup"] == 1.0
    if _cpu_peak_measurable():  # Linux with a writable /proc/self/clear_refs
        assert row["peak_memory_mb"] > 0  # the trainer's weights count, as on CUDA
    else:
        assert row["peak_memory_mb"] is None


def _cpu_peak_measurable() -> bool:
    meter = PeakMemory(torch.device("cpu"))
    meter.start()
    return meter.ok


def test_peak_memory_sees_an_allocation():
    meter = PeakMemory(torch.device("cpu"))
    meter.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, written so that it is resident
    peak = meter.stop()
    del block
    if not meter.ok:
        pytest.skip("this platform cannot reset the CPU peak (no /proc/self/clear_refs)")
    assert 60 <= peak < 200


def test_modes_not_measured_are_listed_with_reasons(micro_report):
    report, _ = micro_report
    rows = rows_by_mode(report)
    assert set(rows) == set(bench_modes.ALL_MODES)
    assert rows["fp16"]["status"] == "skipped" and "GPU" in rows["fp16"]["reason"]
    assert rows["cudagraphs"]["status"] == "skipped"
    assert "not asked for" in rows["cudagraphs"]["reason"]
    assert rows["bf16"]["reason"] == "not asked for (--modes)"
    assert rows["fast"]["status"] == "skipped"  # fast was not asked for either


def test_inference_data_and_metrics_sections(micro_report):
    report, stdout = micro_report
    inference = {(r["precision"], r["how"]): r for r in report["inference"]}
    assert set(inference) == {(p, h) for p in ("fp32", "bf16") for h in ("whole", "tiled")}
    for row in inference.values():
        assert row["status"] == "ok", row
        assert row["output"] == [32, 32] and row["input"] == [8, 8]  # output side; x4 SR
        assert row["megapixels_per_s"] > 0
    assert inference[("fp32", "tiled")]["tile"] == 16  # half the side, at least 16
    data = report["data"]
    assert [r["cache"] for r in data] == [True, False]
    assert data[0]["loader_images_per_s"] > 0 and data[0]["prepare_images_per_s"] > 0
    assert data[0]["step_images_per_s"] == rows_by_mode(report)["baseline"]["samples_per_s"]
    assert 0 <= data[0]["run_data_wait"] <= 1
    metrics = {r["metric"]: r for r in report["metrics"]}
    assert set(metrics) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}
    for row in metrics.values():
        assert row["status"] == "ok"
        assert row["max_abs_diff"] < 1e-9  # float64 on both sides: rounding only
    for title in ("### Training throughput", "### Inference", "### Data pipeline", "### Metrics"):
        assert title in stdout


def test_data_sources_compare_2k_pngs_prepared_shards_and_cache(micro_report):
    report, stdout = micro_report
    sources = report["data_sources"]
    assert sources["task"] == "sr" and sources["prepare_options"] == {"scale": 4}
    assert sources["images"] == 1 and sources["sub_images"] == 40  # 2040x1356: 8 x 5 of 480
    by_name = {s["source"]: s for s in sources["sources"]}
    assert list(by_name) == ["folder", "prepared", "cached"]
    for source in by_name.values():
        assert source["status"] == "ok", source
        assert source["startup_s"] >= 0 and source["peak_rss_mb"] > 0
        cells = {(r["crop"], r["degradation"]) for r in source["rows"]}
        assert cells == {(c, d) for c in (128, 256) for d in ("bicubic", "realesrgan")}
        assert all(r["crops_per_s"] > 0 for r in source["rows"])
    stored = {r["degradation"]: r["lr_stored"] for r in by_name["prepared"]["rows"]}
    assert stored == {"bicubic": True, "realesrgan": False}  # bicubic reads the stored LR
    assert by_name["prepared"]["samples"] == 40 and by_name["folder"]["samples"] == 1
    assert "### Training crops by data source (one core)" in stdout


def test_data_sources_estimate_the_workers_an_h100_needs(micro_report):
    report, stdout = micro_report
    demand = report["data_sources"]["demand"]
    assert demand["variant"] == "sr:rrdbnet" and (demand["batch_size"], demand["crop"]) == (16, 128)
    rates = demand["worker_rates"]
    assert set(rates) == {"bicubic (LR stored)", "realesrgan"}
    phases = {p["phase"]: p for p in demand["phases"]}
    assert list(phases) == ["pixel-loss phase", "GAN phase"]
    pixel, gan = phases["pixel-loss phase"], phases["GAN phase"]
    # By hand: RRDBNet (64 features, 23 blocks, growth 32) costs 17.92M multiply-adds per LR
    # pixel (16.53M in the blocks, the rest in the x2/x4 upsampling convs); 16 crops of 32x32
    # LR pixels, 2 FLOPs per multiply-add, and the backward about twice the forward.
    by_hand = 3 * 2 * 17.92e6 * 16 * 32 * 32 / 1e12
    assert pixel["tflops_per_step"] == pytest.approx(by_hand, rel=0.03)
    assert gan["tflops_per_step"] > pixel["tflops_per_step"]  # the discriminator's on top
    h100 = pixel["gpus"]["H100 SXM"]
    expected = 0.4 * 989.4e12 * 16 / (pixel["tflops_per_step"] * 1e12)
    assert h100["crops_per_s"] == pytest.approx(expected)
    for label, rate in rates.items():
        assert h100["workers"][label] == -(-h100["crops_per_s"] // rate)
    assert "Loader workers a GPU needs:" in stdout and "H100 SXM at 40% MFU" in stdout


def test_degradation_section_measures_each_degradation(micro_report):
    report, stdout = micro_report
    rows = {r["degradation"]: r for r in report["degradation"]}
    assert list(rows) == ["bicubic", "realesrgan", "realesrgan+usm"]
    for row in rows.values():
        assert row["status"] == "ok", row
        assert (row["batch"], row["crop"], row["scale"]) == (2, 32, 4)  # --batch-size, --crop
        assert row["megapixels_per_s"] > 0 and row["ms_per_batch"] > 0
    assert "draw_ms_per_sample" not in rows["bicubic"]
    assert rows["realesrgan"]["draw_ms_per_sample"] > 0
    assert "degradation" in report["settings"]["sections"]
    assert "### Degradation" in stdout and "| realesrgan | 2 x 32, x4 |" in stdout


# -- FLOPs ------------------------------------------------------------------------------------


def test_flop_count_of_a_convolution_matches_the_hand_count():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.rand(2, 3, 16, 20)
    flops, out = count_flops(lambda: conv(x))
    hand = 2 * 3 * 8 * 3 * 3 * 16 * 20 * 2  # 2 * Cin * Cout * k * k * H * W, per sample
    assert out.shape == (2, 8, 16, 20)
    assert flops == hand
    # Backward: the gradients of the weight and of the input cost one forward each.
    x.requires_grad_(True)
    flops, _ = count_flops(lambda: conv(x).sum().backward())
    assert flops == 3 * hand


def test_matmul_peak_is_positive():
    peak = matmul_peak(torch.device("cpu"), torch.float32, size=64, repeats=2)
    assert peak["dtype"] == "float32" and peak["size"] == 64 and peak["tflops"] > 0


def test_matmul_peak_shrinks_a_product_that_would_take_too_long():
    # A budget no product meets: the size halves down to the 256 probe, never below.
    peak = matmul_peak(torch.device("cpu"), torch.float32, size=2048, repeats=1, max_seconds=0)
    assert peak["size"] == 256 and peak["tflops"] > 0
    # A generous budget keeps the asked size.
    peak = matmul_peak(torch.device("cpu"), torch.float32, size=512, repeats=1, max_seconds=60)
    assert peak["size"] == 512


# -- modes and the choice of fast -------------------------------------------------------------


def test_skip_reasons_on_the_cpu():
    every = set(bench_modes.ALL_MODES)

    def reason(name, device="cpu", chosen=every, requested=False, quick=False):
        return bench_modes.skip_reason(
            name, device, chosen=chosen, requested=requested, quick=quick
        )

    assert "GPU" in reason("fp16")
    assert "CUDA" in reason("cudagraphs")
    assert reason("fp16", "cuda") is None
    assert reason("bf16") is None
    quick = bench_modes.chosen_modes(None, quick=True)
    assert reason("compile", chosen=quick, quick=True) == "--quick leaves it out"
    assert reason("bf16", chosen={"baseline"}, requested=True) == "not asked for (--modes)"


def test_winners_take_the_best_knob_of_each_group():
    speedups = {"baseline": 1.0, "bf16": 1.5, "fp16": 1.6, "channels_last": 1.01, "fused": 1.1}
    names = [m.name for m in bench_modes.winners(speedups)]
    assert names == ["fp16", "fused"]  # channels_last is within the noise margin
    mode = bench_modes.combine(bench_modes.winners(speedups))
    assert (mode.precision, mode.channels_last, mode.optimizer, mode.compile) == (
        "fp16",
        False,
        "fused",
        None,
    )


class FakeRun(VariantRun):
    """A VariantRun whose measurements are given: ``rates`` maps mode name to samples/s."""

    def __init__(self, rates: dict[str, float], combined: float) -> None:
        ctx = SimpleNamespace(over_budget=lambda: False, log=lambda line: None, expensive_s=0)
        super().__init__(ctx, Variant("sr", "srresnet"))
        self.combined = combined
        self.measured: list[str] = []
        for name, rate in rates.items():
            self.rows[name] = {"mode": name, "status": "ok", "samples_per_s": rate}

    def run(self, mode):
        self.measured.append(mode.help)
        row = {"mode": mode.name, "status": "ok", "samples_per_s": self.combined}
        self.rows[mode.name] = row
        return row


def test_fast_is_the_combination_when_it_wins():
    run = FakeRun({"baseline": 10, "bf16": 20, "channels_last": 12, "fused": 10.1}, combined=25)
    row = run.choose_fast()
    assert row["samples_per_s"] == 25 and row["chosen"] == "bf16 + channels_last"
    assert run.measured == ["the best combination measured: bf16 + channels_last"]


def test_fast_is_the_best_single_knob_when_the_combination_loses():
    # On this CPU, bf16 + channels_last is slower than bf16 alone for CycleGAN's networks.
    run = FakeRun({"baseline": 10, "bf16": 20, "channels_last": 12}, combined=15)
    row = run.choose_fast()
    assert row["mode"] == "fast" and row["chosen"] == "bf16" and row["samples_per_s"] == 20
    assert "combination bf16 + channels_last gave 15" in row["note"]


def test_fast_is_the_baseline_when_no_knob_wins():
    run = FakeRun({"baseline": 10, "bf16": 9, "channels_last": 10.1}, combined=0)
    row = run.choose_fast()
    assert row["chosen"] == "baseline" and row["samples_per_s"] == 10 and not run.measured


# -- variants, plugins and errors -------------------------------------------------------------


class _Declared(Task):
    name = "mine"
    bench_variants = [{"name": "a", "options": {"x": 1}}]


class _Undeclared(Task):
    name = "other"


class _Broken(Task):
    name = "bad"
    bench_variants = ["x"]


def test_variants_come_from_the_task():
    assert [v.label for v in task_variants(_Declared())] == ["mine:a"]
    assert task_variants(_Declared())[0].options == {"x": 1}
    assert [v.name for v in task_variants(_Undeclared())] == ["default"]
    with pytest.raises(UsageError, match="must be a dict"):
        task_variants(_Broken())


def test_builtin_tasks_declare_their_variants():
    sr = create_task("sr")
    assert [v.name for v in task_variants(sr)] == ["srresnet", "rrdbnet"]
    with pytest.raises(UsageError, match="no bench variant 'big'; it has: srresnet, rrdbnet"):
        select(sr, "big")
    translate = task_variants(create_task("translate"))[0]
    assert translate.options_for("cpu")["crop"] == 256  # unet_256 needs sides of 256
    assert "crop" not in translate.options_for("cuda")


PLUGIN = """
    from imgen import hookimpl
    from imgen_sr.task import SuperResolution


    class TinySR(SuperResolution):
        name = "tinysr"
        help = "a plugin's task"
        bench_variants = [{"name": "tiny", "options": {"num_feat": 8, "num_block": 1}}]


    @hookimpl
    def imgen_register_tasks(register):
        register(TinySR())
"""


def test_a_plugins_task_is_benchmarked_with_its_own_variants(
    isolated_host, make_plugin, tmp_path, one_thread
):
    (sr,) = metadata.entry_points(group="imgen", name="sr")
    isolated_host([sr, make_plugin("tinysr", PLUGIN)])
    path = tmp_path / "plugin.json"
    args = ["bench", "tinysr", *MICRO[:-4], "--modes", "baseline,fast", "--sections", "train"]
    result = CliRunner().invoke(cli, [*args, "--json", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(path.read_text())
    baseline = rows_by_mode(report)["baseline"]
    assert (baseline["task"], baseline["variant"], baseline["status"]) == ("tinysr", "tiny", "ok")
    assert "inference" not in report and "metrics" not in report
    assert report["summary"][0]["fast_chosen"] == "baseline"


def test_a_generation_task_is_timed_generating(tmp_path, one_thread):
    path = tmp_path / "dcgan.json"
    args = ["bench", "dcgan", "--device", "cpu", "--quick", "--sections", "inference"]
    args += ["--set", "ngf=8", "--set", "image_size=32", "--json", str(path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = {(r["precision"], r["how"]): r for r in json.loads(path.read_text())["inference"]}
    assert rows[("fp32", "generate 16")]["status"] == "ok"
    assert rows[("fp32", "generate 16")]["output"] == [32, 32]
    assert rows[("bf16", "generate 16")]["megapixels_per_s"] > 0
    assert rows[("fp32", "tiled")]["status"] == "skipped"
    assert "no input image" in rows[("fp32", "tiled")]["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchtask"], "nosuchtask"),
        (["sr:big"], "no bench variant 'big'"),
        (["sr", "--modes", "turbo"], "unknown mode 'turbo'"),
        (["sr", "--sections", "speed"], "unknown section 'speed'"),
        (["sr", "--set", "oops"], "is not KEY=VALUE"),
        (["sr", "--device", "mps"], "mps"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message):
    result = CliRunner().invoke(cli, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bench_help_imports_no_torch():
    code = "import sys; from imgen.cli import main; sys.argv = ['imgen', 'bench', '--help']\n"
    code += "try:\n    main()\nexcept SystemExit:\n    pass\n"
    code += "print('torch' in sys.modules, file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--quick" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == "False"


def test_saved_report_prints_as_tables(micro_report, tmp_path, capsys):
    from imgen.bench.__main__ import main

    report, _ = micro_report
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "| sr:srresnet | baseline | 2 | 32 |" in out
    assert "fp16 skipped (sr:srresnet)" in out
