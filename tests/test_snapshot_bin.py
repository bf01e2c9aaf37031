"""The binary snapshot (image models are megabytes): bit-identical round trips, and every kind of
damage refused with a message naming it, the trainer left as it was."""

import json

import numpy as np
import pytest

from ganlab import Trainer
from ganlab import snapshot_bin as sb

CFG = dict(data="digits8", seed=5, noise_dim=6, batch_size=16, conditional=True, k_d=2, g_ema=0.9,
           generator={"layers": 1, "units": 24, "activation": "leaky_relu"},
           discriminator={"layers": 2, "units": 12, "activation": "leaky_relu", "dropout": 0.2},
           d_optimizer={"kind": "adam", "lr": 0.002}, g_optimizer={"kind": "rmsprop", "lr": 0.001, "decay": 0.01})


def state(t):
    return np.concatenate([t.G.params, t.D.params, t.G_avg.params, t.d_opt.m, t.d_opt.v, t.g_opt.v])


@pytest.fixture(scope="module")
def trained():
    t = Trainer(**CFG)
    t.train(17)
    return t, t.snapshot_bytes()


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_round_trip_is_bit_identical_and_continues_exactly(precision):
    straight = Trainer(**CFG, precision=precision)
    straight.train(17)
    data = straight.snapshot_bytes()
    assert sb.is_binary(data)
    b = Trainer.from_bytes(data)
    assert b.snapshot_bytes() == data  # byte for byte
    assert b.G.params.dtype == np.dtype(precision) and b.G.params.flags.writeable
    np.testing.assert_array_equal(state(b), state(straight))
    for t in (straight, b):
        t.step("generator")
        t.train(6)
    np.testing.assert_array_equal(state(b), state(straight))
    assert b.losses == straight.losses
    np.testing.assert_array_equal(b.sample(5), straight.sample(5))


def test_binary_holds_the_same_snapshot_as_json_and_is_far_smaller():
    t = Trainer(data="mnist", generator={"layers": 1, "units": 256}, discriminator={"layers": 1, "units": 64},
                noise_dim=100, batch_size=50, d_optimizer={"kind": "adam"})
    t.train(2)
    data = t.snapshot_bytes()
    text = json.dumps(t.snapshot())
    assert len(data) < 0.45 * len(text)
    n_floats = t.G.size * 1 + t.D.size * 3
    assert n_floats * 4 <= len(data) < n_floats * 4 + 16384  # float32 raw plus a small header
    back = Trainer.from_bytes(data).snapshot()
    assert json.dumps(back) == text
    # A 2D trainer round-trips too (the JSON snapshot stays the page's format).
    two = Trainer(seed=2)
    two.train(30)
    assert Trainer.from_bytes(two.snapshot_bytes()).snapshot() == json.loads(json.dumps(two.snapshot()))


def _refused(t, data, match):
    before = state(t).copy()
    with pytest.raises(ValueError, match=match):
        t.restore(sb.decode(data))
    np.testing.assert_array_equal(state(t), before)


def test_damaged_bytes_are_refused_naming_the_damage(trained):
    t0, data = trained
    t = Trainer.from_bytes(data)
    _, _, hlen = sb._PREFIX.unpack_from(data)
    first_array = sb._align(16 + hlen)
    flipped = bytearray(data)
    flipped[first_array + 100] ^= 0x10
    cases = [
        (b"PK\x03\x04" + data[4:], "wrong magic"),
        (data[:8] + (2).to_bytes(4, "little") + data[12:], "unsupported binary snapshot version 2"),
        (bytes(flipped), "checksum mismatch"),
        (data[:20] + b"\xff" + data[21:], "header: not valid JSON"),
        (data[:10], "truncated: 10 bytes"),
        (data[:40], "truncated: the header needs"),
        (data[: first_array + 8], "truncated: array 0 ends at byte"),
        (data[:-4], "truncated: array"),
        (data + b"\0" * 64, "64 unexpected bytes after the last array"),
        (data[:12] + (2**31).to_bytes(4, "little") + data[16:], "header of 2147483648 bytes"),
    ]
    for bad, match in cases:
        _refused(t, bad, match)
    with pytest.raises(ValueError, match=r"more than the 1000 a snapshot may have"):
        sb.decode(data, max_bytes=1000)


def _edit(data, change):
    snap = sb.decode(data)
    snap = json.loads(json.dumps(snap, default=lambda a: {"$keep": a.tolist(), "dt": str(a.dtype)}))

    def back(x):
        if isinstance(x, dict):
            if "$keep" in x:
                return np.array(x["$keep"], x["dt"])
            return {k: back(v) for k, v in x.items()}
        return [back(v) for v in x] if isinstance(x, list) else x

    snap = back(snap)
    change(snap)
    return sb.encode(snap)


def test_well_formed_bytes_holding_a_bad_snapshot_get_the_json_rules(trained):
    t0, data = trained
    t = Trainer.from_bytes(data)

    def nan_weight(s):
        s["generator"][5] = np.nan

    def short_d(s):
        s["discriminator"] = s["discriminator"][:-1]

    def negative_v(s):
        s["d_optimizer"]["v"][3] = -1.0

    def huge_for_float32(s):
        s["generator"] = s["generator"].astype(np.float64)
        s["generator"][0] = 1e300

    def bad_epoch(s):
        s["epoch"] = -1

    def ints_for_weights(s):
        s["discriminator"] = s["discriminator"].astype(np.int64).tolist()[:3]

    for change, match in [
        (nan_weight, r"snapshot\.generator\.5: must be a finite number"),
        (short_d, r"snapshot\.discriminator: must be an array of \d+ floats"),
        (negative_v, r"snapshot\.d_optimizer\.v\.3: must be a non-negative number"),
        (huge_for_float32, r"snapshot\.generator\.0: must be a finite number \(as float32\)"),
        (bad_epoch, r"snapshot\.epoch: must be a whole number"),
        (ints_for_weights, r"snapshot\.discriminator: must be a list of \d+ numbers"),
    ]:
        _refused(t, _edit(data, change), match)


def test_array_references_are_checked(trained):
    _, data = trained
    snap = sb.decode(data)
    header = json.loads(data[16 : 16 + sb._PREFIX.unpack_from(data)[2]])
    # G, its average, D, RMSprop v, Adam m and v
    assert header["generator"] == {"$array": 0} and len(header["$arrays"]) == 6
    twice = dict(snap, discriminator=snap["generator"])  # one array referenced twice is re-encoded
    assert sb.decode(sb.encode(twice))["discriminator"].size == snap["generator"].size

    def with_header(h):
        text = json.dumps(h).encode()
        start = sb._align(16 + len(text))
        body = data[sb._align(16 + sb._PREFIX.unpack_from(data)[2]):]
        shift = start - sb._align(16 + sb._PREFIX.unpack_from(data)[2])
        for a in h["$arrays"]:
            a["offset"] += shift
        text = json.dumps(h).encode()
        assert sb._align(16 + len(text)) == start
        return sb._PREFIX.pack(sb.MAGIC, 1, start - 16) + text + b" " * (start - 16 - len(text)) + body

    h = dict(header, discriminator={"$array": 0})
    with pytest.raises(ValueError, match=r"snapshot\.discriminator: bad array reference"):
        sb.decode(with_header(json.loads(json.dumps(h))))
    h = dict(header, discriminator={"$array": 99})
    with pytest.raises(ValueError, match="bad array reference"):
        sb.decode(with_header(json.loads(json.dumps(h))))
    h = json.loads(json.dumps(header))
    h["$arrays"][1]["dtype"] = "<i8"
    with pytest.raises(ValueError, match=r"\$arrays\.1\.dtype: must be one of <f4, <f8"):
        sb.decode(with_header(h))
