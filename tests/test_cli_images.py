"""`ganlab train` and `ganlab sample` on image data, in process: reports with image metrics, the
binary snapshot, the PNG grid, and every bad input refused with exit status 2 and its reason."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from ganlab import Trainer
from ganlab import snapshot_bin as sb
from ganlab.cli import main

SMALL = ["--g-units", "32", "--d-units", "16", "--noise-dim", "8", "--batch-size", "32"]


@pytest.fixture(scope="module")
def snap_bin(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "snap.bin"
    assert main(["train", "--data", "digits8", "--epochs", "200", "--report-every", "100", *SMALL,
                 "--out", str(out)]) == 0
    return out


def test_train_reports_image_metrics_and_writes_a_binary_snapshot(tmp_path, capsys):
    out = tmp_path / "d8"  # no suffix: image data get the binary snapshot
    rc = main(["train", "--data", "digits8", "--epochs", "60", "--report-every", "30", "--json", "--metrics",
               *SMALL, "--conditional", "--d-dropout", "0.2", "--label-smoothing", "0.1", "--out", str(out)])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["epoch"] for r in lines] == [30, 60, 60]
    m = lines[-1]["metrics"]
    assert m["classes_total"] == 10 and 0 <= m["classes_captured"] <= 10 and len(m["class_counts"]) == 10
    assert 0 <= m["confident"] <= 1 and 1 <= m["digit_score"] <= 10 and m["fd"] > m["fd_floor"]["mean"] > 0
    assert 0 <= m["d_real"] <= 1 and 0 <= m["d_fake"] <= 1
    assert lines[-1]["data_epochs"] == pytest.approx(60 * 32 / 1797, abs=0.01)
    data = out.read_bytes()
    assert sb.is_binary(data)
    t = Trainer.from_bytes(data)
    assert t.epoch == 60 and t.config.conditional and t.config.discriminator.dropout == 0.2
    assert t.config.precision == "float32" and t.G.sizes == [8 + 10, 32, 64]
    assert t.config.d_optimizer.kind == "adam"  # the digits8 recommended preset, then the flags


def test_train_text_report_names_the_image_metrics(snap_bin, capsys):
    assert main(["train", "--data", "digits8", "--epochs", "20", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "images: classes captured " in out and "confident" in out and "(floor " in out


def test_out_suffix_chooses_the_encoding(tmp_path, capsys):
    j, b = tmp_path / "img.json", tmp_path / "pts.bin"
    assert main(["train", "--data", "digits8", "--epochs", "5", *SMALL, "--out", str(j)]) == 0
    assert Trainer.from_snapshot(json.loads(j.read_text())).dim == 64
    assert main(["train", "--data", "ring", "--epochs", "5", "--out", str(b)]) == 0
    assert Trainer.from_bytes(b.read_bytes()).dim == 2
    assert main(["train", "--data", "ring", "--epochs", "5", "--out", str(tmp_path / "pts")]) == 0
    json.loads((tmp_path / "pts").read_text())  # 2D without a suffix: JSON, as before


def test_sample_writes_the_grid_png(snap_bin, tmp_path, capsys):
    png = tmp_path / "digits.png"
    assert main(["sample", str(snap_bin), "--grid", "3x5", "--out", str(png), "--scale", "2"]) == 0
    assert "3x5 samples of digits8" in capsys.readouterr().out
    img = Image.open(io.BytesIO(png.read_bytes()))
    assert img.mode == "L" and img.size == (5 * 17 + 1, 3 * 17 + 1)  # 16-pixel tiles, 1-pixel gaps
    a = np.asarray(img)
    t = Trainer.from_bytes(snap_bin.read_bytes())
    tile = a[1:17:2, 1:17:2]  # the first image, from the same noise the command drew
    from ganlab.noise import sample_noise

    z = sample_noise(np.random.default_rng(0), t.config.noise, 15, t.config.noise_dim)
    want = np.clip(np.rint((t.sample(noise=z)[0] + 1) * 127.5), 0, 255).reshape(8, 8)
    np.testing.assert_array_equal(tile, want)
    assert (a[17] == 128).all() and (a[0] == 128).all()  # the gaps around and between rows
    # The same seed draws the same grid; another seed another.
    again = tmp_path / "again.png"
    main(["sample", str(snap_bin), "--grid", "3x5", "--out", str(again), "--scale", "2"])
    assert again.read_bytes() == png.read_bytes()
    main(["sample", str(snap_bin), "--grid", "3x5", "--out", str(again), "--scale", "2", "--seed", "1"])
    assert again.read_bytes() != png.read_bytes()


def test_conditional_grid_has_one_class_per_row(tmp_path, capsys):
    t = Trainer(data="digits8", conditional=True, noise_dim=4, generator={"units": 16}, discriminator={"units": 8})
    t.train(20)
    f = tmp_path / "c.bin"
    f.write_bytes(t.snapshot_bytes())
    from ganlab.images_out import sample_images
    from ganlab.noise import sample_noise

    g = sample_images(t, 2, 3)
    z = sample_noise(np.random.default_rng(0), t.config.noise, 6, 4)
    x = t.sample(noise=z, labels=np.array([0, 0, 0, 1, 1, 1]))
    want = np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8).reshape(6, 8, 8)
    np.testing.assert_array_equal(g, want)
    assert not np.allclose(x, t.sample(noise=z, labels=np.array([1, 1, 1, 0, 0, 0])))  # rows follow labels
    assert main(["sample", str(f), "--grid", "10x4", "--out", str(tmp_path / "c.png")]) == 0


@pytest.mark.parametrize("grid", ["8by8", "0x3", "33x2", "x8", "8x", "-1x4", "8x8x8"])
def test_bad_grid_exits_2_naming_the_option(snap_bin, grid, tmp_path, capsys):
    assert main(["sample", str(snap_bin), f"--grid={grid}", "--out", str(tmp_path / "x.png")]) == 2
    assert "ganlab: --grid: expected ROWSxCOLS like 8x8, each 1..32" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_bad_snapshot_files_exit_2_with_the_reason(snap_bin, tmp_path, capsys):
    data = snap_bin.read_bytes()
    flipped = bytearray(data)
    flipped[-10] ^= 1
    two_d = Trainer(seed=1)
    cases = {
        "flipped.bin": (bytes(flipped), "checksum mismatch"),
        "short.bin": (data[: len(data) // 2], "truncated"),
        "text.bin": (b"hello", "not a ganlab snapshot"),
        "empty.bin": (b"", "not a ganlab snapshot"),
        "other.json": (json.dumps({"format": "x"}).encode(), "snapshot.format"),
        "two_d.json": (json.dumps(two_d.snapshot()).encode(), "holds 2D data ('gaussians')"),
        "two_d.bin": (two_d.snapshot_bytes(), "holds 2D data"),
    }
    for name, (content, reason) in cases.items():
        f = tmp_path / name
        f.write_bytes(content)
        assert main(["sample", str(f), "--out", str(tmp_path / "x.png")]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith(f"ganlab: {f}") or "holds 2D data" in err, err
        assert reason in err, (name, err)
    assert main(["sample", str(tmp_path / "missing.bin")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    assert main(["sample", str(snap_bin), "--scale", "40", "--out", str(tmp_path / "x.png")]) == 2
    assert "--scale: must be 1..16" in capsys.readouterr().err


def test_image_preset_choice(capsys):
    assert main(["train", "--data", "digits8", "--epochs", "1", "--image-preset", "nope"]) == 2
    assert "--image-preset: image set 'digits8' has no preset 'nope'; choose one of recommended, collapse" in \
        capsys.readouterr().err
    assert main(["train", "--data", "mnist", "--epochs", "1", "--image-preset", "collapse", "--json",
                 "--report-every", "1"]) == 0
    assert main(["train", "--data", "gaussians", "--epochs", "1", "--g-units", "200"]) == 2
    assert "generator.units: at most 128 for 2D data (up to 1024 for image data); got 200" in capsys.readouterr().err
