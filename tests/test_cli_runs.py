"""`ganlab train --run-dir/--animate` and `ganlab runs ...`, in process (exit codes and messages as
tests/test_cli.py checks them)."""

import json

import pytest
from PIL import Image

from ganlab.cli import main
from ganlab.runs import Run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    assert main(["train", "--epochs", "200", "--seed", "1", "--json", "--report-every", "50",
                 "--run-dir", str(d / "a")]) == 0
    assert main(["train", "--epochs", "200", "--seed", "1", "--json", "--report-every", "50", "--d-lr", "0.05",
                 "--run-dir", str(d / "b"), "--snapshot-every", "100"]) == 0
    return d


def test_train_writes_a_run(runs):
    a = Run(runs / "a")
    assert [r["epoch"] for r in a.metrics] == [0, 50, 100, 150, 200]
    assert a.snapshot_epochs == [0, 50, 100, 150, 200] and len(a.manifest["thumbs"]) == 5
    assert Run(runs / "b").snapshot_epochs == [0, 100, 200]
    assert a.manifest["status"] == "ok" and a.manifest["duration_seconds"] > 0


def test_runs_list_prints_a_table(runs, capsys):
    assert main(["runs", "list", str(runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "data", "epochs", "settings", "(not", "default)", "final", "metrics",
                              "duration"]
    a = next(line for line in out if line.startswith("a "))
    b = next(line for line in out if line.startswith("b "))
    assert "gaussians" in a and "seed=1" in a and "d_optimizer" not in a and " KL " in a
    assert "d_optimizer.lr=0.05" in b and "200" in b


def test_runs_compare_shows_what_differs_and_draws_curves(runs, tmp_path, capsys):
    png = tmp_path / "curves.png"
    assert main(["runs", "compare", str(runs / "a"), str(runs / "b"), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("d_optimizer.lr"))
    assert row.split()[1:] == ["0.1", "0.05"]
    assert "g_optimizer.lr" not in out and "final kl" in out and f"curves written to {png}" in out
    with Image.open(png) as im:
        assert im.size[0] == 1000 and im.size[1] > 400


def test_continue_from_a_snapshot_retraces_the_run(runs, tmp_path, capsys):
    assert main(["runs", "continue", str(runs / "a"), "--from-epoch", "100", "--epochs", "200",
                 "--run-dir", str(tmp_path / "c")]) == 0
    assert "continued a from epoch 100 to 200" in capsys.readouterr().out
    c = Run(tmp_path / "c")
    assert c.manifest["parent"] == {"name": "a", "epoch": 100} and c.manifest["start_epoch"] == 100
    assert json.dumps(c.snapshot(200)) == json.dumps(Run(runs / "a").snapshot(200))
    # a change makes a branch that differs
    assert main(["runs", "continue", str(runs / "a"), "--from-epoch", "100", "--epochs", "150",
                 "--run-dir", str(tmp_path / "d"), "--set", "d_optimizer.lr=0.01"]) == 0
    d = Run(tmp_path / "d")
    assert d.edits == [{"epoch": 100, "changes": {"d_optimizer": {"lr": 0.01}}}]
    assert d.snapshot(150)["discriminator"] != Run(runs / "a").snapshot(150)["discriminator"]


def test_export_and_import(runs, tmp_path, capsys):
    f = tmp_path / "a.zip"
    assert main(["runs", "export", str(runs / "a"), str(f)]) == 0
    assert main(["runs", "import", str(f), str(tmp_path / "x")]) == 0
    assert Run(tmp_path / "x").manifest == Run(runs / "a").manifest
    assert main(["runs", "import", str(f), str(tmp_path / "x")]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_bad_runs_and_flags_exit_2_with_the_reason(runs, tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    assert main(["runs", "compare", str(runs / "a"), str(bad)]) == 2
    assert "bad.zip: not a ganlab run file" in capsys.readouterr().err
    assert main(["train", "--epochs", "10", "--run-dir", str(runs / "a")]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--epochs", "10", "--animate", str(tmp_path / "x.mp4")]) == 2
    assert "an animation is .gif, .webp or .png" in capsys.readouterr().err
    assert main(["train", "--epochs", "10", "--animate", str(tmp_path / "x.gif"), "--every", "0"]) == 2
    assert "--every must be an integer >= 1" in capsys.readouterr().err
    assert main(["runs", "continue", str(runs / "a"), "--from-epoch", "75", "--epochs", "300",
                 "--run-dir", str(tmp_path / "e")]) == 2
    assert "no snapshot at epoch 75; recorded: 0, 50, 100, 150, 200" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["runs", "list", str(tmp_path / "empty")]) == 1
    assert "no runs in" in capsys.readouterr().err


def test_a_broken_run_is_listed_as_unreadable(runs, tmp_path, capsys):
    d = tmp_path / "many"
    d.mkdir()
    Run(runs / "a").export(d / "a.zip")
    (d / "z.zip").write_bytes(b"PK\x03\x04truncated")
    assert main(["runs", "list", str(d)]) == 0
    out = capsys.readouterr().out
    assert "unreadable" in out and "truncated" in out


def test_train_animate_writes_the_frames_and_keeps_them_in_the_run(tmp_path, capsys):
    gif = tmp_path / "t.gif"
    assert main(["train", "--epochs", "300", "--every", "100", "--animate", str(gif), "--animate-size", "80",
                 "--run-dir", str(tmp_path / "r")]) == 0
    assert "animation written to" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (80, 80)
    run = Run(tmp_path / "r")
    assert run.manifest["media"] == [{"file": "media/t.gif", "kind": "gif", "frames": 4, "every": 100}]
    assert run.read("media/t.gif") == gif.read_bytes()


def test_a_diverged_run_is_kept_with_its_reason(tmp_path, capsys):
    rc = main(["train", "--epochs", "3000", "--json", "--loss", "lsgan", "--set", 'generator.output="linear"',
               "--d-lr", "10", "--g-lr", "10", "--run-dir", str(tmp_path / "dv")])
    assert rc == 3
    run = Run(tmp_path / "dv")
    assert run.manifest["status"] == "diverged" and "non-finite" in run.manifest["message"]
    assert run.snapshot_epochs[-1] == run.manifest["epochs"] < 3000
    assert run.metrics[-1]["status"] == "diverged"
