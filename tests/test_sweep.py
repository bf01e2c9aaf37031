"""`ganlab sweep`: the same runs on every executor (in process, a process pool, a Dask
LocalCluster), resume, failing runs, spec errors (docs: README "Sweeps")."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from ganlab.cli import main
from ganlab.runs import Run
from ganlab.sweep import SpecError, load_spec, parse_spec, run_sweep

SMALL = """
[base]
data = "ring8"
"generator.units" = 16
"discriminator.units" = 16
batch_size = 64
[grid]
"d_optimizer.lr" = [0.001, 0.0003]
[run]
seeds = [0, 1]
epochs = 200
every = 100
worst_from = 100
pass_high_quality = 0.0
"""


def spec_file(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run_files(out: Path) -> dict[str, tuple]:
    """Per run: its final snapshot (weights, optimizer state, random streams) and its metric rows
    without the wall-clock field."""
    res = {}
    for d in sorted((out / "runs").iterdir()):
        r = Run(d)
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in r.metrics]
        snap = json.loads(r.read(r.manifest["snapshots"][-1]["file"]))
        res[d.name] = (r.manifest["status"], r.manifest["epochs"], rows, snap)
    return res


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    spec = load_spec(spec_file(tmp, SMALL))
    rows, text = run_sweep(spec, tmp / "out", jobs=2, quiet=True)
    return spec, tmp / "out", rows, text


def test_a_pool_sweep_writes_every_run_and_the_summary(pool_sweep):
    spec, out, rows, text = pool_sweep
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == sorted(["d_optimizer.lr=0.001__seed=0", "d_optimizer.lr=0.001__seed=1",
                            "d_optimizer.lr=0.0003__seed=0", "d_optimizer.lr=0.0003__seed=1"])
    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["run"] for r in table] == [t.name for t in spec.tasks]
    for r in table:
        run = Run(out / "runs" / r["run"])
        assert run.config["seed"] == int(r["seed"]) and run.config["d_optimizer"]["lr"] == float(r["d_optimizer.lr"])
        assert run.config["generator"]["units"] == 16  # [base] over the ring's preset
        assert r["status"] == "ok" and int(r["epochs"]) == 200
        assert float(r["high_quality"]) == run.manifest["final"]["high_quality"]
        # the worst checkpoint from epoch 100 on, of the two recorded there (100, 200)
        later = [m for m in run.metrics if m["epoch"] >= 100]
        worst = min(later, key=lambda m: (m["modes_captured"], m["high_quality"]))
        assert int(r["worst_epoch"]) == worst["epoch"]
        assert float(r["worst_high_quality"]) == worst["high_quality"]
        assert r["passed"] == str(all(m["modes_captured"] == m["modes_total"] for m in later))  # bar 0 % HQ
        full = [m["epoch"] for m in run.metrics if m["modes_captured"] == m["modes_total"]]
        assert r["all_modes_at"] == (str(full[0]) if full else "")
    assert [m["epoch"] for m in Run(out / "runs" / table[0]["run"]).metrics] == [0, 100, 200]
    assert text.splitlines()[0].startswith("| setting | runs ok | modes | % HQ | kl | js |")
    assert "| d_optimizer.lr=0.001 | 2/2 |" in text and "| d_optimizer.lr=0.0003 | 2/2 |" in text
    img = Image.open(out / "summary.png")
    assert img.format == "PNG" and img.width == 1000 and img.height > 200


def test_every_executor_gives_the_same_runs(pool_sweep, tmp_path):
    """Determinism across executors: in process, a local pool of 2 and a Dask LocalCluster of 2
    worker processes give bit-identical final weights, optimizer states and metric rows."""
    spec, out, _, _ = pool_sweep
    run_sweep(spec, tmp_path / "dask", jobs=2, scheduler="local", quiet=True)
    run_sweep(spec, tmp_path / "serial", jobs=1, quiet=True)
    pool = run_files(out)
    assert len(pool) == 4
    assert run_files(tmp_path / "dask") == pool
    assert run_files(tmp_path / "serial") == pool
    # and the runs differ from one another (the comparison can fail)
    snaps = [json.dumps(v[3]["generator"]) for v in pool.values()]
    assert len(set(snaps)) == 4


def test_a_rerun_skips_finished_runs_and_redoes_half_written_ones(tmp_path, capsys):
    spec = load_spec(spec_file(tmp_path, SMALL))
    out = tmp_path / "out"
    run_sweep(spec, out, jobs=1, quiet=True)
    runs = {t.name: out / "runs" / t.name for t in spec.tasks}
    a, b, c, d = runs.values()
    # b: half-written (a run still 'running' when the sweep was killed); c: gone; d: a corrupt file
    m = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**m, "status": "running"}))
    (c / "run.json").unlink()
    (d / "metrics.jsonl").write_text("{not json\n")
    before = (a / "run.json").stat().st_mtime_ns, (a / "run.json").read_bytes()
    rows, _ = run_sweep(spec, out, jobs=1)
    assert "1 of 4 runs already finished: skipped" in capsys.readouterr().err
    assert ((a / "run.json").stat().st_mtime_ns, (a / "run.json").read_bytes()) == before
    for x in (b, c, d):
        assert Run(x).manifest["status"] == "ok"
    assert [r["status"] for r in rows] == ["ok"] * 4


def test_a_changed_spec_redoes_only_the_changed_runs(tmp_path):
    spec = load_spec(spec_file(tmp_path, SMALL))
    out = tmp_path / "out"
    run_sweep(spec, out, jobs=1, quiet=True)
    stamps = {p.name: (p / "run.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    changed = load_spec(spec_file(tmp_path, SMALL.replace('"generator.units" = 16', '"generator.units" = 16\n'
                                                          'r1 = 0.0'), "same.toml"))
    run_sweep(changed, out, jobs=1, quiet=True)  # the ring's preset has r1 0.1: every config changed
    after = {p.name: (p / "run.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    assert all(after[k] != stamps[k] for k in stamps)
    assert all(Run(out / "runs" / k).config["r1"] == 0.0 for k in stamps)


FAILING = """
[base]
data = "ring8"
"generator.units" = 16
"discriminator.units" = 16
batch_size = 64
[grid]
loss = ["nonsaturating", "lsgan"]
"d_optimizer.kind" = ["adam", "sgd"]
[run]
seeds = [0]
epochs = 300
every = 100
"""


def test_a_diverging_run_is_recorded_and_the_sweep_finishes(tmp_path, capsys):
    """SGD at lr 10 with momentum 0.99 diverges within a few epochs; the other runs go to the end;
    exit status 1 (README)."""
    text = FAILING.replace('"d_optimizer.kind" = ["adam", "sgd"]', '"d_optimizer.lr" = [0.001, 10.0]')
    p = spec_file(tmp_path, text + '[base.d_optimizer]\nkind = "sgd"\nmomentum = 0.99\n')
    assert main(["sweep", str(p), "--out", str(tmp_path / "out"), "--jobs", "2"]) == 1
    io = capsys.readouterr()
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    for loss in ("nonsaturating", "lsgan"):
        bad = rows[f"loss={loss}__d_optimizer.lr=10.0__seed=0"]
        assert bad["status"] == "diverged" and "non-finite" in bad["reason"] and int(bad["epochs"]) < 300
        run = Run(tmp_path / "out" / "runs" / bad["run"])
        assert run.manifest["status"] == "diverged" and run.manifest["message"] == bad["reason"]
        assert f"{bad['run']}: diverged: {bad['reason']}" in io.out
        good = rows[f"loss={loss}__d_optimizer.lr=0.001__seed=0"]
        assert good["status"] == "ok" and good["epochs"] == "300"
    assert "| loss=lsgan, d_optimizer.lr=10.0 | 0/1 |" in io.out
    # a diverged run is finished: a re-run skips it (and every other run)
    assert main(["sweep", str(p), "--out", str(tmp_path / "out"), "--jobs", "2"]) == 1
    assert "4 of 4 runs already finished: skipped" in capsys.readouterr().err


def test_a_run_that_raises_is_recorded_with_its_reason_and_redone_next_time(tmp_path, monkeypatch, capsys):
    from ganlab.trainer import Trainer

    train = Trainer.train

    def broken(self, epochs):
        if self.config.loss == "lsgan" and self.config.d_optimizer.kind == "sgd" and self.epoch >= 100:
            raise FloatingPointError("simulated engine failure")
        return train(self, epochs)

    monkeypatch.setattr(Trainer, "train", broken)
    p = spec_file(tmp_path, FAILING)
    out = tmp_path / "out"
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1"]) == 1
    name = "loss=lsgan__d_optimizer.kind=sgd__seed=0"
    run = Run(out / "runs" / name)
    assert run.manifest["status"] == "stopped" and run.manifest["epochs"] == 100
    assert run.manifest["message"].startswith("FloatingPointError: simulated engine failure (at test_sweep.py:")
    with open(out / "summary.csv") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert rows[name]["status"] == "stopped" and rows[name]["reason"] == run.manifest["message"]
    assert sum(r["status"] == "ok" for r in rows.values()) == 3
    capsys.readouterr()
    monkeypatch.setattr(Trainer, "train", train)  # the engine fixed: the stopped run is redone
    assert main(["sweep", str(p), "--out", str(out), "--jobs", "1"]) == 0
    assert "3 of 4 runs already finished: skipped" in capsys.readouterr().err
    assert Run(out / "runs" / name).manifest["status"] == "ok"


@pytest.mark.parametrize("sig,jobs", [(signal.SIGINT, "2"), (signal.SIGTERM, "1")])
def test_ctrl_c_keeps_finished_runs_and_a_rerun_resumes(tmp_path, sig, jobs):
    """SIGINT (Ctrl-C) to `ganlab sweep --jobs 2`, or SIGTERM to a serial sweep, once a run has
    finished: exit 130 with how to resume; the finished runs are kept byte for byte and skipped
    by the re-run, which does the rest."""
    # A time budget, not epochs: 3,000 epochs took 0.5 s once the engine got faster, and the whole
    # sweep could end before the signal reached it.
    text = SMALL.replace("seeds = [0, 1]", "seeds = [0, 1, 2]").replace("epochs = 200", "seconds = 2")
    text = text.replace("every = 100", "every = 500")
    p = spec_file(tmp_path, text)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ganlab", "sweep", str(p), "--out", str(out), "--jobs", jobs]
    # SIGINT as a terminal's Ctrl-C delivers it: a shell's background job (CI run with `&`)
    # starts with SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def finished():
        return [d for d in (out / "runs").glob("*") if (d / "run.json").is_file()
                and json.loads((d / "run.json").read_text())["status"] == "ok"]

    deadline = time.monotonic() + 200
    while not finished() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: finished runs are kept in" in stderr and "run the same command again to resume" in stderr
    done = {d.name: (d / "run.json").read_bytes() for d in finished()}
    assert 1 <= len(done) < 6
    with open(out / "summary.csv") as f:  # the summary of what had finished
        statuses = {r["run"]: r["status"] for r in csv.DictReader(f)}
    assert {k for k, v in statuses.items() if v == "ok"} == set(done)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} of 6 runs already finished: skipped" in again.stderr
    assert again.stderr.count(": ok (") == 6 - len(done)
    for name, manifest in done.items():
        assert (out / "runs" / name / "run.json").read_bytes() == manifest
    assert len(finished()) == 6


# -- spec errors ----------------------------------------------------------------------------------


def set_error(item: str, capsys) -> str:
    """What `ganlab train --set ITEM` says about the field, after the CLI's prefix."""
    assert main(["train", "--epochs", "1", "--set", item]) == 2
    err = capsys.readouterr().err.strip()
    return err.removeprefix("ganlab: invalid configuration: ")


@pytest.mark.parametrize("grid,item", [
    ('"d_optimizer.lr" = [0.001, -1]', "d_optimizer.lr=-1"),
    ('foo = [1]', "foo=1"),
    ('loss = ["lsgan", "bogus"]', "loss=bogus"),
    ('"generator.units" = [1000000000]', "generator.units=1000000000"),
])
def test_a_bad_grid_value_is_named_in_the_words_of_set(tmp_path, capsys, grid, item):
    p = spec_file(tmp_path, f'[base]\ndata = "ring8"\n[grid]\n{grid}\n[run]\nepochs = 10\n')
    words = set_error(item, capsys)
    assert main(["sweep", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    key = item.split("=")[0]
    assert err.startswith(f"ganlab: invalid sweep spec: {p}: [grid] {key} = ")
    assert err.rstrip().endswith(": " + words), (err, words)
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.parametrize("text,message", [
    ('[grid]\nloss = []\n[run]\nepochs = 10', "[grid] loss: must be a non-empty list of values, got []"),
    ('[grid]\nloss = "lsgan"\n[run]\nepochs = 10', "[grid] loss: must be a non-empty list of values, got 'lsgan'"),
    ('[run]\nepochs = 10\nseconds = 5', "[run] epochs: give epochs or seconds, not both"),
    ('[run]\nseeds = [0]', "[run]: give the budget of each run: epochs = N or seconds = S"),
    ('[run]\nepochs = 0', "[run] epochs: must be a whole number in 1..1000000000, got 0"),
    ('[run]\nseconds = -1', "[run] seconds: must be a number in (0, 1000000], got -1"),
    ('[run]\nepochs = 10\nseeds = []', "[run] seeds: must be a non-empty list of whole numbers"),
    ('[run]\nepochs = 10\nseeds = [1, 1]', "[run] seeds: lists a seed twice"),
    ('[run]\nepochs = 10\nepoch = 5', "[run] epoch: unknown key; [run] takes epochs, every, metrics,"),
    ('[run]\nepochs = 10\nmetrics = ["fid"]', "[run] metrics: unknown metric 'fid'; choose from d_loss,"),
    ('[run]\nepochs = 10\npreset = "best"', "[run] preset: must be one of recommended, none, got 'best'"),
    ('[run]\nepochs = 10\nworst_from = 20', "[run] worst_from: is past the run's end (epochs = 10)"),
    ('[run]\nepochs = 10\npass_high_quality = 80', "[run] pass_high_quality: must be a share in 0..1, got 80"),
    ('[base]\nseed = 3\n[run]\nepochs = 10', "[base] seed: set by [run] seeds"),
    ('[base]\npreset = "none"\n[run]\nepochs = 10\npreset = "none"', "[base] preset: also set in [run]; give it once"),
    ('[base]\npreset = "best"\n[run]\nepochs = 10', "[base] preset: must be one of recommended, none, got 'best'"),
    ('[bsae]\ndata = "ring8"\n[run]\nepochs = 10',
     "bsae: unknown section; a spec has [base], [grid], [variants], [run]"),
    ('[base]\ndata = "ring8"', "[run]: missing; it names the seeds and the budget (epochs or seconds)"),
    ('[base]\ndata = "mnist"\n[run]\nepochs = 10', "[base]: data: a sweep trains 2D data only for now"),
    ('[base]\ndata = "ring8"\n[variants.a]\nloss = "bogus"\n[run]\nepochs = 10',
     "[grid] variant = a: loss: Value error, unknown loss 'bogus'"),
    ('[grid]\nvariant = ["a"]\n[run]\nepochs = 10', "[grid] variant: is the axis of [variants.NAME] tables"),
    ('[base\ndata = 1', "not valid TOML: "),
])
def test_spec_errors_name_the_key(tmp_path, capsys, text, message):
    p = spec_file(tmp_path, text)
    assert main(["sweep", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ganlab: invalid sweep spec: {p}: ")
    assert message in err, err


def test_the_issues_spec_shape_and_its_extensions_expand_as_documented():
    spec = parse_spec({"base": {"data": "ring8"}, "grid": {"loss": ["nonsaturating", "lsgan"],
                                                         "d_optimizer.lr": [0.001, 0.0003]},
                       "run": {"seeds": [0, 1, 2], "epochs": 5000}})
    assert len(spec.tasks) == 12 and spec.budget.every == 250
    t = spec.tasks[0]
    assert t.name == "loss=nonsaturating__d_optimizer.lr=0.001__seed=0"
    assert t.config["r1"] == 0.1 and t.config["batch_size"] == 512  # the ring's recommended preset
    # a nested TOML table is the same dotted path; preset "none" starts from ganlab's defaults
    nested = parse_spec({"base": {"data": "ring8", "d_optimizer": {"lr": 0.002}},
                         "run": {"epochs": 10, "preset": "none"}})
    assert nested.tasks[0].config["d_optimizer"]["lr"] == 0.002 and nested.tasks[0].config["r1"] == 0.0
    variants = parse_spec({"grid": {"data": ["ring8"]}, "variants": {"plain": {"preset": "none"}, "rec": {}},
                           "run": {"epochs": 10}})
    assert [t.name for t in variants.tasks] == ["data=ring8__variant=plain__seed=0", "data=ring8__variant=rec__seed=0"]
    assert [t.config["batch_size"] for t in variants.tasks] == [150, 512]
    in_base = parse_spec({"base": {"data": "ring8", "preset": "none"}, "run": {"epochs": 10}})
    assert in_base.tasks[0].config["batch_size"] == 150 and "preset" not in in_base.base
    with pytest.raises(SpecError, match=r"seconds"):
        parse_spec({"run": {"seconds": 1, "epochs": 1}})


def test_a_seconds_budget_stops_at_a_checkpoint_past_it(tmp_path):
    spec = parse_spec({"base": {"data": "ring8", "generator.units": 16}, "run": {"seconds": 0.3, "every": 50}})
    rows, _ = run_sweep(spec, tmp_path / "out", jobs=1, quiet=True)
    (row,) = rows
    assert row["status"] == "ok" and row["epochs"] % 50 == 0 and row["epochs"] >= 50
    assert float(row["seconds"]) >= 0.3 * 0.5  # CPU time of the run's thread; wall time is at least that


def test_the_shipped_mode_collapse_spec_is_valid():
    spec = load_spec(Path(__file__).parent.parent / "examples" / "mode_collapse.toml")
    assert len(spec.tasks) == 20 and spec.budget.epochs == 60000 and spec.budget.worst_from == 40000
    assert {t.config["loss"] for t in spec.tasks} == {"ganlab_log", "nonsaturating"}


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from ganlab.sweep import execute

    monkeypatch.setattr(execute, "CONNECT_TIMEOUT", "1s")
    p = spec_file(tmp_path, SMALL)
    assert main(["sweep", str(p), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_jobs_must_be_positive(tmp_path, capsys):
    assert main(["sweep", str(spec_file(tmp_path, SMALL)), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2
    assert "--jobs: must be >= 1, got 0" in capsys.readouterr().err


def test_the_table_aggregates_seeds_as_median_and_range():
    from ganlab.sweep.summary import table

    spec = parse_spec({"base": {"data": "ring8"}, "grid": {"preset": ["recommended", "none"]},
                       "run": {"seeds": [0, 1, 2], "epochs": 10, "pass_high_quality": 0.5}})
    assert [t.config["batch_size"] for t in spec.tasks] == [512] * 3 + [150] * 3  # preset as a grid axis
    rows = []
    for t, hq, modes, st in zip(spec.tasks, [0.5, 0.9, 0.7, 0.1, 0.1, 0.1], [8, 6, 7, 1, 1, 1],
                                ["ok", "ok", "ok", "ok", "diverged", "ok"], strict=True):
        rows.append({"run": t.name, "status": st, "reason": "boom" if st != "ok" else "", "high_quality": hq,
                     "modes_captured": modes, "modes_total": 8, "kl": None, "js": 2.0, "passed": hq >= 0.5})
    lines = table(spec, rows).splitlines()
    assert lines[0] == "| setting | runs ok | modes | % HQ | kl | js | passed |"
    assert lines[2] == "| preset=recommended | 3/3 | 7/8 (6-8) | 70.0 (50.0-90.0) | - | 2 | 3/3 |"
    assert lines[3] == "| preset=none | 2/3 | 1/8 | 10.0 | - | 2 | 0/3 |"
    assert lines[-1] == "preset=none__seed=1: diverged: boom"


def test_dask_is_imported_only_for_a_scheduler(tmp_path):
    p = spec_file(tmp_path, SMALL.replace("seeds = [0, 1]", "seeds = [0]").replace("epochs = 200", "epochs = 20")
                  .replace("every = 100", "every = 10").replace("worst_from = 100", "worst_from = 10"))
    code = ("import sys\nfrom ganlab.cli import main\n"
            f"rc = main(['sweep', {str(p)!r}, '--out', {str(tmp_path / 'out')!r}, '--jobs', '2'])\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr
