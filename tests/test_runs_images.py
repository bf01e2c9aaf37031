"""Runs of image data (digits8, small and fast): binary snapshots in the run format, sample-grid
thumbnails and animations, image metric rows, rewind bit for bit, and the CLI's commands."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from ganlab import Trainer
from ganlab.cli import main
from ganlab.runs import Recorder, Run, RunError
from ganlab.runs import format as fmt

EDITS = [{"epoch": 20, "changes": {"d_optimizer": {"lr": 0.001}}}, {"epoch": 45, "step": "generator"}]
SMALL = {"data": "digits8", "seed": 3, "generator": {"units": 32}, "discriminator": {"units": 32}}


def trainer():
    return Trainer(**SMALL)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    rec = Recorder(trainer(), tmp_path_factory.mktemp("img") / "d8", edits=EDITS, metrics_every=20,
                   snapshot_every=40, thumb_every=40)
    rec.train(80)
    return rec.close()


def test_an_image_run_round_trips_with_binary_snapshots_and_grid_thumbnails(run_dir, tmp_path):
    a = Run(run_dir)
    assert a.snapshot_epochs == [0, 40, 80]
    assert [s["kind"] for s in a.manifest["snapshots"]] == ["bin"] * 3
    assert a.manifest["snapshots"][1]["file"] == "snapshots/000000040.bin"
    row = a.metrics[-1]
    assert [r["epoch"] for r in a.metrics] == [0, 20, 40, 60, 80]
    assert {"d_loss", "g_loss", "classes_captured", "classes_total", "fd", "fd_floor", "digit_score",
            "confident", "d_real", "d_fake"} <= set(row) and row["classes_total"] == 10
    assert 0 <= row["d_real"] <= 1 and row["fd"] > 0 and "kl" not in row
    with Image.open(io.BytesIO(a.thumb(40))) as im:  # 4 x 4 grid of 8 px digits at scale 2, 1 px gaps
        assert im.size == (4 * 16 + 5, 4 * 16 + 5) and im.mode == "L"
    assert a.thumb(0) != a.thumb(80)
    a.export(tmp_path / "d8.zip")
    b = Run(tmp_path / "d8.zip")
    assert b.manifest == a.manifest and b.metrics == a.metrics
    c = b.extract(tmp_path / "c")
    assert all((c / n).read_bytes() == (run_dir / n).read_bytes() for n in a.files())


def test_recording_an_image_run_does_not_change_training(run_dir):
    t = trainer()
    t.schedule([dict(e) for e in EDITS])
    t.train(80)
    assert t.snapshot_bytes() == Run(run_dir).read("snapshots/000000080.bin")


def test_rewinding_an_image_run_is_bit_identical(run_dir, tmp_path):
    straight = trainer()
    straight.schedule([dict(e) for e in EDITS])
    straight.train(150)
    Run(run_dir).export(tmp_path / "d8.zip")
    t = Run(tmp_path / "d8.zip").trainer_at(40)
    assert t.epoch == 40 and t.edits_pending == 1
    t.train(110)
    assert np.array_equal(t.G.params, straight.G.params)
    assert t.snapshot_bytes() == straight.snapshot_bytes()


def test_a_damaged_binary_snapshot_is_refused_naming_it(run_dir, tmp_path):
    files = {n: Run(run_dir).read(n) for n in Run(run_dir).files()}
    snap = bytearray(files["snapshots/000000040.bin"])
    snap[-3] ^= 0xFF
    files["snapshots/000000040.bin"] = bytes(snap)
    fmt.write_zip(files, tmp_path / "bad.zip")
    with pytest.raises(RunError, match=r"snapshots/000000040.bin: snapshot file: checksum mismatch"):
        Run(tmp_path / "bad.zip")
    files["snapshots/000000040.bin"] = b'{"format": "ganlab-snapshot"}'
    fmt.write_zip(files, tmp_path / "bad2.zip")
    with pytest.raises(RunError, match=r"snapshots/000000040.bin: snapshot file: .*wrong magic"):
        Run(tmp_path / "bad2.zip")


SMALL_FLAGS = ["--data", "digits8", "--seed", "3", "--json", "--set", "generator.units=32",
               "--set", "discriminator.units=32"]


def test_cli_image_runs_train_animate_list_compare_export_continue(tmp_path, capsys):
    gif = tmp_path / "grid.gif"
    assert main(["train", *SMALL_FLAGS, "--epochs", "120", "--report-every", "40", "--run-dir",
                 str(tmp_path / "runs" / "a"), "--animate", str(gif), "--every", "20",
                 "--animate-grid", "3x5"]) == 0
    assert main(["train", *SMALL_FLAGS, "--epochs", "80", "--report-every", "40", "--d-lr", "0.0005",
                 "--run-dir", str(tmp_path / "runs" / "b")]) == 0
    capsys.readouterr()
    with Image.open(gif) as im:  # 3 x 5 digits of 8 px at scale 8, 1 px gaps, a 16 px epoch strip
        assert im.n_frames == 7 and im.size == (5 * 64 + 6, 3 * 64 + 4 + 16)
    a = Run(tmp_path / "runs" / "a")
    assert a.manifest["media"] == [{"file": "media/grid.gif", "kind": "gif", "frames": 7, "every": 20}]
    assert main(["runs", "list", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "digits8" in out and "classes " in out and "FD " in out
    assert main(["runs", "compare", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b"),
                 "--png", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "d_optimizer.lr" in out and "final classes_captured" in out and "final fd" in out
    with Image.open(tmp_path / "c.png") as im:
        assert im.width > 500
    assert main(["runs", "export", str(tmp_path / "runs" / "a"), str(tmp_path / "a.zip")]) == 0
    assert main(["runs", "import", str(tmp_path / "a.zip"), str(tmp_path / "a2")]) == 0
    assert main(["runs", "continue", str(tmp_path / "a.zip"), "--from-epoch", "40", "--epochs", "120",
                 "--run-dir", str(tmp_path / "k")]) == 0
    k = Run(tmp_path / "k")
    assert k.manifest["parent"] == {"name": "a", "epoch": 40}
    assert k.read("snapshots/000000120.bin") == a.read("snapshots/000000120.bin")
    capsys.readouterr()
    assert main(["train", *SMALL_FLAGS, "--epochs", "10", "--animate", str(tmp_path / "x.gif"),
                 "--animate-grid", "40x2"]) == 2
    assert "--animate-grid: expected ROWSxCOLS like 8x8, each 1..32" in capsys.readouterr().err
    assert main(["runs", "continue", str(tmp_path / "a.zip"), "--from-epoch", "50", "--epochs", "120",
                 "--run-dir", str(tmp_path / "e")]) == 2
    assert "no snapshot at epoch 50; recorded: 0, 40, 80, 120" in capsys.readouterr().err


def test_the_run_json_of_an_image_run_says_bin(run_dir):
    m = json.loads((run_dir / "run.json").read_text())
    assert {s["kind"] for s in m["snapshots"]} == {"bin"} and m["config"]["data"] == "digits8"
