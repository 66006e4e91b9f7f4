"""Downloads (imgen.hub) and published models by name (imgen pull, --model, --init NAME).

Every download comes from a local http.server thread on 127.0.0.1 that serves a tiny
SRVGGNetCompact state dict and honours HTTP Range; the suite's IMGEN_OFFLINE=1 is unset only
in the tests that download.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import imgen
from imgen import hub
from imgen.cli import cli


# -- a local server --------------------------------------------------------------------------
class Server:
    """Files by URL path; ``requests`` records (path, Range header) of every GET."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                server.requests.append((self.path, wanted))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if wanted and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def tiny_model_bytes() -> bytes:
    """A Real-ESRGAN SRVGGNetCompact state dict (8 features, 2 convs, x4) saved by torch."""
    from imgen_sr.models import SRVGGNetCompact

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4).state_dict(), buffer)
    return buffer.getvalue()


PLUGIN = """
import imgen

@imgen.hookimpl
def imgen_register_published(register):
    register("tiny-compact", task="sr", url={url!r}, sha256={sha!r}, size={size},
             licence="CC0-1.0", source="test", help="a tiny compact x4 model")
    register("tiny-nohash", task="sr", url={url!r}, file="tiny_nohash.pth",
             licence="CC0-1.0", source="test", help="the same without a hash")
    register("tiny-wrong", task="sr", url={url!r}, file="tiny_wrong.pth", sha256="0" * 64,
             help="a wrong hash")
    register("tiny-horse2zebra", task="translate", url={gen_url!r}, help="one CycleGAN G_A")
"""


@pytest.fixture
def published(server, isolated_host, make_plugin, tmp_path, monkeypatch):
    """The sr plugin and a test plugin whose published models the local server serves; an
    empty hub cache under tmp_path; online (IMGEN_OFFLINE unset)."""
    data = tiny_model_bytes()
    server.files["/tiny.pth"] = data
    sha = hashlib.sha256(data).hexdigest()
    from imgen.nn.resnet_generator import ResnetGenerator

    buffer = io.BytesIO()  # a CycleGAN generator file alone (G_A), as horse2zebra.pth
    torch.save(ResnetGenerator(ngf=8, blocks=2).state_dict(), buffer)
    server.files["/horse2zebra.pth"] = buffer.getvalue()
    source = PLUGIN.format(
        url=f"{server.url}/tiny.pth",
        sha=sha,
        size=len(data),
        gen_url=f"{server.url}/horse2zebra.pth",
    )
    (sr,) = metadata.entry_points(group="imgen", name="sr")
    (translate,) = metadata.entry_points(group="imgen", name="translate")
    isolated_host([sr, translate, make_plugin("testhub", source)], report=pytest.fail)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("IMGEN_OFFLINE", raising=False)
    return {"data": data, "sha": sha, "cache": tmp_path / "torch" / "hub" / "checkpoints"}


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


# -- imgen.hub -------------------------------------------------------------------------------
def test_cache_dir_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert hub.cache_dir() == Path(torch.hub.get_dir()) / "checkpoints"
    assert hub.cache_dir() == tmp_path / "hub" / "checkpoints"


def test_hash_prefix_in_the_file_name_is_checked():
    assert hub.expected_hash("vgg19-dcbb9e9d.pth") == "dcbb9e9d"
    assert hub.expected_hash("RealESRGAN_x4plus.pth") is None
    assert hub.expected_hash("x-dcbb9e9d.pth", "ABC") == "abc"


def test_offline_never_opens_a_connection(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("imgen opened a connection while IMGEN_OFFLINE=1")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("IMGEN_OFFLINE", "1")
    dest = tmp_path / "w-0123abcd.pth"
    with pytest.raises(hub.OfflineError) as info:
        hub.download("http://127.0.0.1:9/w-0123abcd.pth", dest, what="test weights")
    message = str(info.value)
    # One sentence: the file, its URL and where to put it.
    assert "w-0123abcd.pth" in message and "http://127.0.0.1:9/w-0123abcd.pth" in message
    assert f"put it at {dest}" in message and "IMGEN_OFFLINE=1" in message
    assert not dest.exists() and not dest.with_name(dest.name + ".partial").exists()


def test_unreachable_server_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.delenv("IMGEN_OFFLINE", raising=False)
    with pytest.raises(hub.DownloadError, match=r"could not be downloaded.*put it at"):
        hub.download("http://127.0.0.1:9/x.pth", tmp_path / "x.pth", progress=False, timeout=5)


# -- imgen pull ------------------------------------------------------------------------------
def test_pull_checks_the_hash_shows_progress_and_prints_the_path(published, server):
    result = run("pull", "tiny-compact")
    assert result.exit_code == 0, result.output
    path = published["cache"] / "tiny.pth"
    assert result.stdout.strip() == str(path)
    assert path.read_bytes() == published["data"]
    assert "tiny.pth" in result.stderr and "B/s" in result.stderr  # tqdm's bar, on stderr
    assert "SHA-256 matches" in result.stderr
    assert not path.with_name("tiny.pth.partial").exists()
    assert server.requests == [("/tiny.pth", None)]
    again = run("pull", "tiny-compact")
    assert again.exit_code == 0 and again.stdout.strip() == str(path)
    assert "present and its SHA-256 matches; nothing to download" in again.stderr
    assert len(server.requests) == 1  # no second download


def test_pull_refuses_a_wrong_hash_and_removes_the_partial_file(published, server):
    result = run("pull", "tiny-wrong")
    assert result.exit_code == 1
    assert "refusing" in result.output and "not the published 0000" in result.output
    cache = published["cache"]
    assert not (cache / "tiny_wrong.pth").exists()
    assert not (cache / "tiny_wrong.pth.partial").exists()


def test_pull_resumes_a_partial_download_with_range(published, server):
    data = published["data"]
    cache = published["cache"]
    cache.mkdir(parents=True)
    half = len(data) // 2
    (cache / "tiny.pth.partial").write_bytes(data[:half])
    result = run("pull", "tiny-compact", "-q")
    assert result.exit_code == 0, result.output
    assert server.requests == [("/tiny.pth", f"bytes={half}-")]
    assert (cache / "tiny.pth").read_bytes() == data


def test_pull_without_a_published_hash_says_so(published):
    result = run("pull", "tiny-nohash", "-q")
    assert result.exit_code == 0, result.output
    assert (
        f"no published hash: SHA-256 of what was downloaded is {published['sha']}; "
        "checked only for being a readable model"
    ) in result.stderr


def test_pull_offline_says_where_to_put_the_file(published, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    monkeypatch.setenv("IMGEN_OFFLINE", "1")
    result = run("pull", "tiny-compact")
    assert result.exit_code == 1
    assert "/tiny.pth and put it at" in result.output
    assert str(published["cache"] / "tiny.pth") in result.output


def test_unknown_name_suggests_close_ones(published):
    result = run("pull", "tiny-compac")
    assert result.exit_code == 2 and "did you mean 'tiny-compact'" in result.output


# -- models --published ----------------------------------------------------------------------
def test_models_published_lists_the_registry(published):
    result = run("models", "--published", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["tiny-compact"]["task"] == "sr" and rows["tiny-compact"]["plugin"] == "testhub"
    assert rows["tiny-compact"]["sha256"] == published["sha"]
    assert rows["tiny-nohash"]["sha256"] is None
    text = run("models", "--published", "tiny-*").stdout
    assert "tiny-compact" in text and "a tiny compact x4 model" in text


def test_builtin_published_models_are_registered():
    from imgen.published import published_models

    names = {entry.name: entry for entry in published_models()}
    for name in (
        "RealESRGAN_x4plus",
        "RealESRGAN_x2plus",
        "RealESRGAN_x4plus_anime_6B",
        "realesr-general-x4v3",
        "realesr-animevideov3",
        "RRDB_ESRGAN_x4",
        "RRDB_PSNR_x4",
        "SwinIR-M_realSR_x4_GAN",
        "pix2pix_facades_label2photo",
        "cyclegan_horse2zebra",
    ):
        assert name in names
        entry = names[name]
        assert entry.urls[0].startswith(("https://", "http://efrosgans.eecs.berkeley.edu/"))
        # a full SHA-256, or none (then the file name's prefix, or nothing, is checked)
        assert entry.sha256 is None or len(entry.sha256) == 64
    assert names["RealESRGAN_x4plus"].sha256.startswith("4fa0d389")


# -- using a name ----------------------------------------------------------------------------
def test_predict_model_name_pulls_and_predicts(published, photo_folder, tmp_path):
    image = photo_folder / "coffee.png"
    result = run("predict", "--model", "tiny-compact", image, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    from PIL import Image

    (written,) = [Path(line) for line in result.stdout.split()]
    assert Image.open(written).size == (256, 256)  # 64 px x4
    assert (published["cache"] / "tiny.pth").is_file()


def test_predict_model_name_of_a_single_cyclegan_generator(published, photo_folder, tmp_path):
    image = photo_folder / "coffee.png"
    result = run("predict", "--model", "tiny-horse2zebra", image, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    from PIL import Image

    (written,) = [Path(line) for line in result.stdout.split()]
    assert Image.open(written).size == (64, 64)


def test_docs_models_md_holds_the_generated_table():
    from imgen.published import markdown_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    assert markdown_table() in text, "regenerate it: python -m imgen.published"


def test_predict_no_download_stops_with_the_sentence(
    published, photo_folder, tmp_path, monkeypatch
):
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)  # no connection at all
    result = run(
        "predict", "--model", "tiny-compact", "--no-download", photo_folder / "coffee.png",
        "-o", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--no-download" in result.output and "put it at" in result.output


def test_eval_model_name(published, photo_folder):
    result = run("eval", "sr", "--model", "tiny-compact", "--data", photo_folder, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["psnr_y"] > 0
    wrong = run("eval", "translate", "--model", "tiny-compact", "--data", photo_folder)
    assert (
        wrong.exit_code == 2 and "is a published 'sr' model, not a 'translate' one" in wrong.output
    )


def test_load_by_name(published):
    model = imgen.load("tiny-compact", device="cpu")
    assert model.task == "sr" and model.scale == 4


def test_train_init_from_a_published_name(published, photo_folder, tmp_path):
    result = run(
        "train", "sr", "--init", "tiny-compact", "--data", photo_folder, "--steps", "1",
        "--batch-size", "2", "--crop", "32", "--gan-weight", "0", "--sample-every", "0",
        "--workers", "0", "--out", tmp_path / "runs", "--name", "tuned",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--init tiny-compact: imported" in result.stderr
    stored = json.loads((tmp_path / "runs" / "tuned" / "config.json").read_text())["config"]
    assert stored["generator"] == "compact" and stored["init"].endswith("imgen-runs/tiny-compact")


# -- pretrained weights of losses and metrics ------------------------------------------------
def test_vgg19_downloads_through_the_hub_when_missing(tmp_path, monkeypatch):
    from imgen.losses import perceptual

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("IMGEN_OFFLINE", raising=False)
    calls = []

    def fake_download(url, dest, **kwargs):  # what the server would have sent
        calls.append(url)
        features = perceptual._vgg19_features(len(perceptual.VGG19_LAYER_NAMES))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, dest)
        return Path(dest)

    monkeypatch.setattr(hub, "download", fake_download)
    loss = perceptual.PerceptualLoss(layer_weights={"conv1_1": 1.0})
    assert calls == [perceptual.VGG19_URL]
    assert (tmp_path / "hub" / "checkpoints" / perceptual.VGG19_FILENAME).is_file()
    assert loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)) > 0


def test_lpips_downloads_through_the_hub_when_missing(tmp_path, monkeypatch):
    from imgen.metrics import lpips as lpips_module

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("IMGEN_OFFLINE", raising=False)
    pytest.importorskip("lpips")
    real_download = hub.download
    calls = []
    monkeypatch.setattr(hub, "download", lambda url, dest, **kw: calls.append((url, dest)))
    lpips_module.lpips_status()
    assert calls == [(lpips_module.ALEXNET_URL, lpips_module._alexnet_path())]
    monkeypatch.setenv("IMGEN_OFFLINE", "1")
    monkeypatch.setattr(hub, "download", real_download)
    ok, reason = lpips_module.lpips_status()
    assert not ok and lpips_module.ALEXNET_URL in reason and "put it at" in reason
