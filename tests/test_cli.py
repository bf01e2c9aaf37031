"""`ganlab train` end to end, in process."""

import json
import subprocess
import sys

import pytest

from ganlab import Trainer
from ganlab.cli import main


def test_train_json_reports_and_snapshot(tmp_path, capsys):
    out = tmp_path / "snap.json"
    rc = main(["train", "--data", "ring", "--epochs", "300", "--seed", "3", "--json",
               "--report-every", "100", "--d-lr", "0.05", "--g-optimizer", "adam", "--out", str(out)])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["epoch"] for r in lines] == [100, 200, 300, 300]
    assert lines[-1]["final"] is True and set(lines[-1]["losses"]) == {"d", "g"}
    t = Trainer.from_snapshot(json.loads(out.read_text()))
    assert t.epoch == 300 and t.config.data == "ring"
    # the ring preset (GAN Lab: D 2 layers of 9 -> 3 hidden layers here), then the flags on top
    assert t.config.discriminator.layers == 3 and t.config.discriminator.units == 9
    assert t.config.d_optimizer.lr == 0.05 and t.config.g_optimizer.kind == "adam"
    assert t.losses == lines[-1]["losses"]


def test_same_seed_same_result_from_the_cli(capsys):
    runs = []
    for _ in range(2):
        main(["train", "--epochs", "50", "--seed", "1", "--json", "--report-every", "50"])
        runs.append(capsys.readouterr().out.splitlines()[-1])
    assert json.loads(runs[0])["losses"] == json.loads(runs[1])["losses"]


def test_invalid_flag_value_names_the_field(capsys):
    assert main(["train", "--g-layers", "9"]) == 2
    err = capsys.readouterr().err
    assert "generator.layers" in err and "0..6" in err


def test_set_reaches_any_field_and_divergence_exits_3(capsys):
    rc = main(["train", "--epochs", "3000", "--json", "--loss", "lsgan", "--set", 'generator.output="linear"',
               "--d-lr", "10", "--g-lr", "10"])
    assert rc == 3
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["status"] == "diverged" and "non-finite" in final["message"]


def test_console_script_help_runs():
    r = subprocess.run([sys.executable, "-m", "ganlab", "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--d-lr" in r.stdout and "--g-units" in r.stdout


def test_bad_data_file_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    f = tmp_path / "pts.csv"
    f.write_text("x,y\n0.1,0.2\n0.3,abc\n")
    assert main(["train", "--data-file", str(f), "--epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert "invalid data" in err and "line 3" in err


def test_a_data_file_outside_the_square_is_rescaled_with_the_pages_note(tmp_path, capsys):
    """The page's import and the CLI follow one rule: a set leaving [0, 1]^2 is mapped into it
    and both say so in the same words (tests/test_page_behave.py checks the page's status)."""
    f = tmp_path / "p.json"
    f.write_text("[[-1, 0], [3, 2], [1, 1]]")
    assert main(["train", "--data-file", str(f), "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert (f"note: {f}: 2 of 3 points lay outside [0, 1]^2; the set was rescaled into the unit "
            "square") in err


@pytest.mark.parametrize("flags, field", [
    (["--epochs", "-5"], "epochs"), (["--epochs", "0"], "epochs"),
    (["--report-every", "-1"], "report_every"), (["--seed", "-1"], "seed"),
])
def test_negative_run_numbers_are_refused_like_config_errors(flags, field, capsys):
    assert main(["train", *flags]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # nothing trained, nothing reported
    assert out.err.startswith(f"ganlab: invalid configuration: {field}: ") and "allowed range" in out.err
    assert repr(int(flags[1])) in out.err


def test_serve_options_not_given_leave_the_environment_in_force(monkeypatch):
    """`ganlab serve` without --max-sessions / --idle-timeout must not override GANLAB_MAX_SESSIONS
    and GANLAB_IDLE_TIMEOUT with its own defaults (the compose file had to pass flags instead)."""
    import dataclasses

    import ganlab.server as server
    from ganlab.server.settings import Settings

    seen = {}

    def fake_run(**kw):
        names = {f.name for f in dataclasses.fields(Settings)}
        seen["settings"] = Settings.create(**{k: v for k, v in kw.items() if k in names})

    monkeypatch.setattr(server, "run", fake_run)
    monkeypatch.setenv("GANLAB_MAX_SESSIONS", "3")
    monkeypatch.setenv("GANLAB_IDLE_TIMEOUT", "60")
    assert main(["serve", "--no-browser"]) == 0
    assert (seen["settings"].max_sessions, seen["settings"].idle_timeout) == (3, 60.0)
    assert main(["serve", "--no-browser", "--max-sessions", "5"]) == 0
    assert seen["settings"].max_sessions == 5  # a flag given still wins
