"""Sample grids: each column named in a band above it (``Task.sample_labels``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imgen.engine.samples import save_grid
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task


def columns(n: int = 3, size: int = 32) -> list[torch.Tensor]:
    """``n`` columns of 2 mid-gray samples each (no white in them)."""
    return [torch.full((2, 3, size, size), 0.2 + 0.1 * i) for i in range(n)]


def grid(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.mark.parametrize("size", [32, 96])
def test_labels_sit_in_a_band_above_their_columns(tmp_path, size):
    save_grid(columns(size=size), tmp_path / "plain.png")
    save_grid(columns(size=size), tmp_path / "named.png", labels=["input", "output", "target"])
    plain, named = grid(tmp_path / "plain.png"), grid(tmp_path / "named.png")

    band = named.shape[0] - plain.shape[0]
    assert 8 <= band <= 40 and named.shape[1] == plain.shape[1]
    assert (named[band:] == plain).all()  # the images themselves are unchanged
    pitch = size + 2
    for index in range(3):  # light text pixels over every column, none over the padding
        cell = named[:band, 2 + index * pitch : (index + 1) * pitch]
        assert (cell.min(axis=2) > 150).sum() >= 5, f"no text above column {index}"
    assert (named[:band, :2] < 100).all()


def test_different_labels_draw_different_text(tmp_path):
    save_grid(columns(2), tmp_path / "a.png", labels=["input", "output"])
    save_grid(columns(2), tmp_path / "b.png", labels=["input", "target"])
    a, b = grid(tmp_path / "a.png"), grid(tmp_path / "b.png")
    pitch = 34
    assert (a[:, :pitch] == b[:, :pitch]).all()  # the same first label
    assert (a[:, pitch:] != b[:, pitch:]).any()


def test_labels_must_match_the_columns(tmp_path):
    with pytest.raises(ValueError, match="2 labels for 3 columns"):
        save_grid(columns(3), tmp_path / "x.png", labels=["input", "output"])


def test_the_tasks_name_their_columns():
    assert create_task("sr").sample_labels({}, {}) == ["input", "output", "target"]
    assert create_task("translate").sample_labels({}, {}) == ["input", "output", "target"]
    style = ["A", "fake B", "rec A", "B", "fake A", "rec B"]
    assert create_task("style").sample_labels({}, {}) == style
    dcgan = create_task("dcgan")
    assert dcgan.sample_labels({}, {"grid": None}) == []  # columns of noise: no names
    assert dcgan.sample_labels({"image": None}, {"fake": None}) == ["real", "fake"]


def tiny_sr(photo_folder: Path, out: Path):
    task = create_task("sr")
    cfg = task.Config(
        data=str(photo_folder),
        out=str(out),
        name="run",
        steps=2,
        batch_size=2,
        crop=32,
        scale=2,
        num_feat=4,
        num_block=1,
        workers=0,
        gan_weight=0.0,
        sample_every=1,
        save_every=100,
    )
    return task, cfg


def test_training_writes_labelled_grids(photo_folder, tmp_path):
    task, cfg = tiny_sr(photo_folder, tmp_path)
    trainer = Trainer(task, cfg, quiet=True)
    run = trainer.fit()
    image = grid(run / "samples" / "step_000001.png")
    rows = 4  # the fixed sample batch: 4 photos
    band = image.shape[0] - (rows * 34 + 2)
    assert band > 0 and (image[:band].min(axis=2) > 150).any()


def test_a_task_naming_too_few_columns_gets_plain_grids_and_a_sentence(
    photo_folder, tmp_path, capsys
):
    task, cfg = tiny_sr(photo_folder, tmp_path)
    task.sample_labels = lambda batch, out: ["input", "output"]
    run = Trainer(task, dataclasses.replace(cfg, steps=2), quiet=True).fit()
    image = grid(run / "samples" / "step_000002.png")
    assert image.shape[0] == 4 * 34 + 2
    err = capsys.readouterr().err
    assert err.count("names 2 sample columns but draws 3") == 1, err
