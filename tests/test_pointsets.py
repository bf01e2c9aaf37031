"""Point files: CSV/JSON round trips, and every malformed file gets an error naming the line."""

import json

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.data import DataError, sample_points
from ganlab.data.pointsets import (
    MAX_BYTES,
    MAX_ROWS,
    dumps_points,
    fit_unit_square,
    load_points_file,
    parse_csv,
    parse_json,
    save_points_file,
)


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_round_trip_is_exact(tmp_path, suffix):
    pts = sample_points("ring8", 500, seed=4)
    path = tmp_path / f"pts.{suffix}"
    save_points_file(pts, path)
    assert np.array_equal(load_points_file(path), pts)


def test_csv_header_blank_lines_comments_and_spaces():
    text = "# exported\nx, y\n0.1, 0.2\n\n 0.3 ,0.4\n# end\n"
    assert np.array_equal(parse_csv(text), [[0.1, 0.2], [0.3, 0.4]])
    assert np.array_equal(parse_csv("0.5,0.5\n"), [[0.5, 0.5]])  # no header
    assert np.array_equal(parse_csv(b"\xef\xbb\xbfx,y\n1,0\n"), [[1.0, 0.0]])  # BOM from Excel


@pytest.mark.parametrize("text, message", [
    ("", "CSV: the file is empty"),
    ("  \n\n", "CSV: the file is empty"),
    ("x,y\n", "no points"),
    ("0.1,0.2\n0.3\n", "CSV line 2: expected 2 columns (x,y), found 1"),
    ("0.1,0.2\n0.3,0.4,0.5\n", "CSV line 2: expected 2 columns (x,y), found 3"),
    ("x,y\n0.1,0.2\n0.3,abc\n", "CSV line 3, column 2: 'abc' is not a number"),
    ("0.1,0.2\nx,y\n", "CSV line 2, column 1: 'x' is not a number"),  # a header only comes first
    ("0.1,0.2\n\n0.3,nan\n", "CSV line 3, column 2: 'nan' is not finite"),
    ("inf,0.2\n", "CSV line 1, column 1: 'inf' is not finite"),
    ("0.1;0.2\n", "CSV line 1: expected 2 columns (x,y), found 1"),
])
def test_csv_errors_name_the_line(text, message):
    with pytest.raises(DataError) as e:
        parse_csv(text)
    assert message in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("", "JSON: the file is empty"),
    ("[[0.1, 0.2],\n [0.3 0.4]]", "JSON line 2, column 7: invalid JSON"),
    ("[]", "JSON: no points"),
    ('{"pts": []}', "'points' list"),
    ('"hello"', "expected a list"),
    ("[[0.1, 0.2], [0.3]]", "JSON point 2: expected [x, y] (2 numbers), found 1"),
    ('[[0.1, "a"]]', "JSON point 1, column 2: 'a' is not a number"),
    ("[[0.1, true]]", "JSON point 1, column 2: True is not a number"),
    ("[[0.1, 0.2], [NaN, 0.2]]", "JSON point 2, column 1: NaN is not finite"),
    ("[[0.1, Infinity]]", "JSON point 1, column 2: Infinity is not finite"),
    ("[[0.1, 1e400]]", "JSON point 1, column 2: inf is not finite"),
])
def test_json_errors_name_the_point(text, message):
    with pytest.raises(DataError) as e:
        parse_json(text)
    assert message in str(e.value)


def test_json_accepts_an_object_with_points():
    assert np.array_equal(parse_json('{"name": "x", "points": [[1, 0.5]]}'), [[1.0, 0.5]])


def test_size_and_row_limits():
    with pytest.raises(DataError, match="limit is 5242880"):
        parse_csv(b"0.1,0.2\n" * (MAX_BYTES // 8 + 1))
    with pytest.raises(DataError, match=f"CSV line {MAX_ROWS + 2}: more than {MAX_ROWS} points"):
        parse_csv("x,y\n" + "1,1\n" * (MAX_ROWS + 1))
    assert len(parse_csv("1,1\n" * MAX_ROWS)) == MAX_ROWS
    with pytest.raises(DataError, match=f"the limit is {MAX_ROWS}"):
        parse_json(json.dumps([[1, 1]] * (MAX_ROWS + 1)))


def test_load_checks_the_unit_square_or_fits_into_it(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("x,y\n0,0\n10,5\n")
    with pytest.raises(DataError, match=r"point 2 \[10.0, 5.0\] lies outside the unit square"):
        load_points_file(path)
    p = load_points_file(path, fit=True)
    assert np.allclose(p, [[0.05, 0.275], [0.95, 0.725]])  # aspect kept, centred
    assert np.allclose(fit_unit_square([[2.0, 3.0]]), [[0.5, 0.5]])  # a single point: centred


def test_load_errors_for_files(tmp_path):
    with pytest.raises(DataError, match="unknown point file format 'txt'"):
        load_points_file(tmp_path / "a.txt")
    with pytest.raises(DataError, match="cannot read"):
        load_points_file(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe0,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_points_file(bad)


def test_json_export_carries_metadata():
    obj = json.loads(dumps_points([[0.5, 0.25]], "json", {"name": "ring8"}))
    assert obj == {"name": "ring8", "points": [[0.5, 0.25]]}


def test_cli_export_then_load(tmp_path, capsys):
    out = tmp_path / "pts.csv"
    assert main(["data", "export", "grid25", "--n", "300", "--seed", "2", "--out", str(out)]) == 0
    assert np.array_equal(load_points_file(out), sample_points("grid25", 300, seed=2))
    js = tmp_path / "pts.json"
    params = '{"means": [[0.5, 0.5]], "sds": [[0.01, 0.01]]}'
    assert main(["data", "export", "mixture", "--n", "10", "--out", str(js), "--params", params]) == 0
    assert json.loads(js.read_text())["params"] == json.loads(params)
    assert main(["data", "export", "mixture", "--n", "5", "--params", '{"means": 3}']) == 2
    assert "mixture means must have shape" in capsys.readouterr().err
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ring8" in listing and "[modes]" in listing
