"""The run format: round trip, bounded recording, rewind bit-identity, and every kind of bad run
file refused with a message naming what is wrong."""

import io
import json
import zipfile

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.config import ConfigError
from ganlab.runs import Recorder, Run, RunError, train_with
from ganlab.runs import format as fmt

EDITS = [{"epoch": 20, "changes": {"d_optimizer": {"lr": 0.05}}}, {"epoch": 45, "step": "generator"},
         {"epoch": 70, "changes": {"g_optimizer.lr": 0.02}}]


def record(path, epochs=80, edits=None, **kw):
    kw = {"metrics_every": 20, "snapshot_every": 40, "thumb_every": 40, **kw}
    rec = Recorder(Trainer(seed=1), path, edits=edits, **kw)
    rec.train(epochs)
    return rec.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return record(tmp_path_factory.mktemp("runs") / "a", edits=EDITS)


@pytest.fixture(scope="module")
def run_file(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("file") / "a.zip"
    Run(run_dir).export(out)
    return out


def test_round_trip_directory_file_directory(run_dir, run_file, tmp_path):
    a, b = Run(run_dir), Run(run_file)
    assert a.manifest == b.manifest and a.metrics == b.metrics
    assert a.snapshot_epochs == [0, 40, 80] and [t["epoch"] for t in a.manifest["thumbs"]] == [0, 40, 80]
    assert [r["epoch"] for r in a.metrics] == [0, 20, 40, 60, 80]
    assert a.edits == EDITS and a.manifest["status"] == "ok" and a.manifest["epochs"] == 80
    assert {"kl", "js", "d_loss", "g_loss", "kl_floor", "hints"} <= set(a.metrics[-1])
    assert a.manifest["final"] == a.metrics[-1]
    c = b.extract(tmp_path / "c")
    for name in a.files():
        assert (c / name).read_bytes() == (run_dir / name).read_bytes(), name
    # the file is an uncompressed zip, run.json first: what a browser reads without a library
    with zipfile.ZipFile(run_file) as z:
        infos = z.infolist()
    assert infos[0].filename == "run.json" and all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    # the same run exports to the same bytes
    again = tmp_path / "again.zip"
    Run(c).export(again)
    assert again.read_bytes() == run_file.read_bytes()


def test_recording_does_not_change_training(run_dir):
    t = Trainer(seed=1)
    t.schedule([dict(e) for e in EDITS])
    t.train(80)
    assert json.dumps(t.snapshot()) == json.dumps(Run(run_dir).snapshot(80))


def test_rewind_then_continue_is_bit_identical(run_file):
    """2N epochs straight == N recorded, restored from the run file, N more (the later edits
    replayed from the run)."""
    straight = Trainer(seed=1)
    straight.schedule([dict(e) for e in EDITS])
    straight.train(160)
    t = Run(run_file).trainer_at(40)
    assert t.epoch == 40 and t.edits_pending == 2
    t.train(120)
    for a, b in ((t.G, straight.G), (t.D, straight.D)):
        assert np.array_equal(a.params, b.params)
    assert json.dumps(t.snapshot()) == json.dumps(straight.snapshot())


def test_live_edits_are_recorded_and_replayed(tmp_path):
    rec = Recorder(Trainer(seed=2), tmp_path / "r", metrics_every=25, snapshot_every=50)
    rec.train(30)
    rec.update({"d_optimizer.lr": 0.03})
    rec.step("discriminator")
    rec.train(40)
    rec.close()
    run = Run(tmp_path / "r")
    assert run.edits == [{"epoch": 30, "changes": {"d_optimizer": {"lr": 0.03}}},
                         {"epoch": 30, "step": "discriminator"}]
    t = run.trainer_at(0)
    t.train(70)
    assert json.dumps(t.snapshot()) == json.dumps(run.snapshot(70))
    with pytest.raises(ConfigError, match="generator.units would restart"):
        Recorder(Trainer(), tmp_path / "s").update({"generator.units": 5})


def test_recording_is_bounded(tmp_path):
    rec = Recorder(Trainer(), tmp_path / "r", metrics_every=5, snapshot_every=10, thumb_every=10,
                   max_snapshots=4, max_thumbs=3, max_metric_rows=6)
    rec.train(200)
    rec.close()
    run = Run(tmp_path / "r")
    assert len(run.snapshot_epochs) <= 4 and run.snapshot_epochs[0] == 0 and run.snapshot_epochs[-1] == 200
    assert len(run.manifest["thumbs"]) <= 3 and len(run.metrics) <= 6
    assert len(list((tmp_path / "r" / "snapshots").iterdir())) == len(run.snapshot_epochs)
    assert run.metrics[-1]["epoch"] == 200


def test_train_with_hooks_is_bit_identical_to_train():
    class Every7:
        seen: list = []

        def next_due(self, epoch):
            return (epoch // 7 + 1) * 7

        def __call__(self, t):
            self.seen.append(t.epoch)

    a, b, h = Trainer(seed=4), Trainer(seed=4), Every7()
    assert train_with(a, 30, [h]) == 30
    b.train(30)
    assert np.array_equal(a.G.params, b.G.params) and h.seen[:3] == [0, 7, 14]


def test_a_directory_that_already_holds_a_run_is_refused(run_dir):
    with pytest.raises(RunError, match="already holds a run"):
        Recorder(Trainer(), run_dir)


# -- bad run files: each refused with a message naming the problem --------------------------------


def entries(run_file):
    with zipfile.ZipFile(run_file) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def zipped(files, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for k, v in files.items():
            z.writestr(k, v)
    return buf.getvalue()


def refused(tmp_path, data, match):
    p = tmp_path / "bad.zip"
    p.write_bytes(data)
    with pytest.raises(RunError, match=match) as e:
        Run(p)
    assert str(p) in str(e.value)
    return str(e.value)


def test_foreign_files_are_refused(tmp_path, run_file):
    refused(tmp_path, json.dumps({"format": "ganlab-snapshot"}).encode(), r"not a ganlab run file .*JSON")
    refused(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100), r"not a ganlab run file")
    refused(tmp_path, zipped({"readme.txt": b"hi"}), "unexpected entry 'readme.txt'")
    refused(tmp_path, zipped({"run.json": b"{}"}), r"run.json: format must be 'ganlab-run'")
    refused(tmp_path, zipped({"metrics.jsonl": b""}), r"run.json is missing")


def test_truncated_file_is_refused(tmp_path, run_file):
    data = run_file.read_bytes()
    refused(tmp_path, data[: len(data) // 2], r"truncated: the zip's end record is missing")
    files = entries(run_file)
    files["metrics.jsonl"] = b"\n".join(files["metrics.jsonl"].split(b"\n")[:2]) + b"\n"
    refused(tmp_path, zipped(files), r"metrics.jsonl: 2 rows, run.json says 5 \(truncated\?\)")


def test_corrupt_files_are_refused(tmp_path, run_file):
    data = bytearray(run_file.read_bytes())
    i = data.index(b'"kl"', data.index(b'metrics.jsonl{"epoch"'))  # inside metrics.jsonl's bytes
    data[i + 1] ^= 0x20
    refused(tmp_path, bytes(data), r"entry metrics.jsonl is corrupt: fails its CRC-32 check")
    files = entries(run_file)
    lines = files["metrics.jsonl"].split(b"\n")
    lines[2] = b'{"epoch": 40, "kl": NaN}'
    files["metrics.jsonl"] = b"\n".join(lines)
    refused(tmp_path, zipped(files), r"metrics.jsonl line 3: NaN is not allowed")
    files = entries(run_file)
    m = json.loads(files["run.json"])
    m["snapshots"][1]["epoch"] = -3
    files["run.json"] = json.dumps(m).encode()
    refused(tmp_path, zipped(files), r"run.json: snapshots\[1\].epoch: must be a whole number")
    files = entries(run_file)
    snap = json.loads(files["snapshots/000000040.json"])
    snap["epoch"] = 41
    files["snapshots/000000040.json"] = json.dumps(snap).encode()
    refused(tmp_path, zipped(files), r"snapshots/000000040.json: holds epoch 41, run.json says 40")
    files = entries(run_file)
    files["thumbs/000000040.png"] = b"GIF89a"
    refused(tmp_path, zipped(files), r"thumbs/000000040.png: not a PNG image")
    files = entries(run_file)
    m = json.loads(files["run.json"])
    m["version"] = 2
    files["run.json"] = json.dumps(m).encode()
    refused(tmp_path, zipped(files), r"version 2 was written by a newer ganlab")
    files = entries(run_file)
    files["snapshots/000000099.json"] = b"{}"
    refused(tmp_path, zipped(files), r"entry snapshots/000000099.json is not listed in run.json")
    refused(tmp_path, zipped(entries(run_file), zipfile.ZIP_DEFLATED), r"entry run.json is compressed")


def test_a_bad_config_or_hostile_nesting_is_refused(tmp_path, run_file):
    files = entries(run_file)
    m = json.loads(files["run.json"])
    m["config"]["generator"]["layers"] = 9
    files["run.json"] = json.dumps(m).encode()
    refused(tmp_path, zipped(files), r"run.json: config.generator.layers: .*0..6")
    files = entries(run_file)
    files["metrics.jsonl"] = b"[" * 100_000 + b"]" * 100_000
    refused(tmp_path, zipped(files), r"metrics.jsonl line 1: JSON nested too deeply")


def test_edits_that_do_not_apply_are_refused_when_rewinding(tmp_path, run_file):
    files = entries(run_file)
    m = json.loads(files["run.json"])
    m["edits"][2]["changes"] = {"g_optimizer": {"lr": -1}}
    files["run.json"] = json.dumps(m).encode()
    p = tmp_path / "e.zip"
    p.write_bytes(zipped(files))
    with pytest.raises(RunError, match=r"run.json: the edits after epoch 40 do not apply: edits\[1\].changes"):
        Run(p).trainer_at(40)


def test_a_tampered_snapshot_is_refused_when_rewinding(tmp_path, run_file):
    files = entries(run_file)
    snap = json.loads(files["snapshots/000000040.json"])
    snap["generator"] = snap["generator"][:-1]
    files["snapshots/000000040.json"] = json.dumps(snap).encode()
    p = tmp_path / "t.zip"
    p.write_bytes(zipped(files))
    run = Run(p)
    with pytest.raises(RunError, match=r"snapshots/000000040.json: snapshot.generator"):
        run.trainer_at(40)
    with pytest.raises(RunError, match=r"no snapshot at epoch 41; recorded: 0, 40, 80"):
        run.trainer_at(41)


def test_oversized_files_are_refused(tmp_path, run_file, monkeypatch):
    big = tmp_path / "big.zip"
    with open(big, "wb") as f:  # sparse: costs no disk
        f.write(fmt.ZIP_MAGIC)
        f.truncate(fmt.MAX_FILE_BYTES + 1)
    with pytest.raises(RunError, match=r"268,435,457 bytes; a run file holds at most 268,435,456 bytes \(256 MiB\)"):
        Run(big)
    monkeypatch.setattr(fmt, "MAX_ENTRY_BYTES", 1000)
    with pytest.raises(RunError, match=r"entry metrics.jsonl is \d[\d,]* bytes; the limit is 1,000"):
        Run(run_file)


def test_a_run_that_diverges_with_an_infinite_loss_reads_back(tmp_path):
    """The divergence leaves G's last loss infinite; the final snapshot must still be strict JSON
    (the reader refuses Infinity), and it rewinds with that loss unknown (null, read as NaN)."""
    t = Trainer(data="ring8", seed=0, loss="lsgan", generator={"units": 16},
                d_optimizer={"kind": "sgd", "lr": 10.0, "momentum": 0.99})
    with Recorder(t, tmp_path / "dv", metrics_every=100, snapshot_every=100) as rec:
        rec.train(300)
    assert t.status.state == "diverged" and not np.isfinite(t.losses["g"])
    run = Run(tmp_path / "dv")
    assert run.manifest["status"] == "diverged" and run.snapshot_epochs[-1] == t.epoch < 300
    back = run.trainer_at(t.epoch)
    for k, v in t.losses.items():
        assert back.losses[k] == v if np.isfinite(v) else np.isnan(back.losses[k])
    assert np.array_equal(back.G.params, t.G.params)
