"""Image frames: the binary layout with uint8 layers, the pixel mapping, the latent walk's paths,
and the cap on full-speed image sessions (docs/protocol.md, "Binary frame layout")."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np
import pytest

from ganlab.server import image_slots
from ganlab.server.frames import LAYER_IDS, decode, encode
from ganlab.server.image_frames import slerp, to_uint8, walk_noise
from ganlab.server.session import Load
from ganlab.server.settings import Settings


def test_a_2d_frame_is_byte_for_byte_the_documented_float32_layout():
    """Types live in the high bits of an entry's id, so 2D frames (all float32) are unchanged."""
    real = np.arange(10, dtype=float).reshape(5, 2) / 10
    heat = np.linspace(0, 1, 9).reshape(3, 3)
    got = encode(7, {"real": real, "heatmap": heat})
    off1 = 16 + 2 * 16
    off2 = off1 + 4 * real.size
    want = (b"GLF1" + struct.pack("<3I", 7, 2, 0)
            + struct.pack("<4I", 1, 5, 2, off1) + struct.pack("<4I", 3, 3, 3, off2)
            + real.astype("<f4").tobytes() + heat.astype("<f4").tobytes())
    assert got == want


def test_uint8_layers_travel_as_bytes_padded_to_four_and_decode_exactly():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 256, (3, 7 * 7), dtype=np.uint8)  # 147 bytes: padded to 148
    walk = rng.integers(0, 256, (1, 5), dtype=np.uint8)
    hist = rng.random((2, 20)).astype(np.float32)
    data = encode(1, {"fakes_grid": grid, "walk": walk, "d_hist": hist})
    k = struct.unpack_from("<I", data, 8)[0]
    entries = [struct.unpack_from("<4I", data, 16 + 16 * i) for i in range(k)]
    assert [(e[0] & 0xFFFF, e[0] >> 16) for e in entries] == [
        (LAYER_IDS["fakes_grid"], 1), (LAYER_IDS["walk"], 1), (LAYER_IDS["d_hist"], 0)]
    assert all(e[3] % 4 == 0 for e in entries)
    assert entries[1][3] - entries[0][3] == 148 and entries[2][3] - entries[1][3] == 8
    assert len(data) == entries[2][3] + 4 * hist.size
    _, layers = decode(data)
    assert layers["fakes_grid"].dtype == np.uint8 and (layers["fakes_grid"] == grid).all()
    assert (layers["walk"] == walk).all()
    assert (layers["d_hist"] == hist).all()


def test_pixels_map_from_tanh_range_to_bytes():
    x = np.array([-1.0, 1.0, 0.0, -2.0, 3.0, -1 + 2 / 255, 0.5, np.nan, np.inf, -np.inf])
    with np.errstate(all="raise"):  # no invalid cast of NaN to a byte
        assert to_uint8(x).tolist() == [0, 255, 128, 0, 255, 1, round(1.5 * 127.5), 0, 255, 0]


def test_spherical_path_keeps_the_norm_between_vectors_of_equal_norm():
    a, b = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    t = np.linspace(0, 1, 11)
    p = slerp(a, b, t)
    assert np.allclose(p[0], a) and np.allclose(p[-1], b)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0)
    assert np.allclose(p[5], (a + b) / np.sqrt(2))
    # Parallel vectors: no great circle; the straight path.
    assert np.allclose(slerp(a, 2 * a, t), (1 - t)[:, None] * a + t[:, None] * 2 * a)


def test_walk_is_linear_then_spherical_between_the_same_seeded_ends():
    w = walk_noise("normal", 100, seed=3, walk_seed=9, steps=10)
    assert w.shape == (20, 100)
    assert np.allclose(w[0], w[10]) and np.allclose(w[9], w[19])  # same ends
    assert np.allclose(w[5], w[0] + (w[9] - w[0]) * 5 / 9)  # the first row is linear
    assert not np.allclose(w[15], w[5])  # the second is not
    assert np.array_equal(w, walk_noise("normal", 100, seed=3, walk_seed=9, steps=10))
    assert not np.allclose(walk_noise("normal", 100, seed=3, walk_seed=10, steps=10)[0], w[0])


class FakeSession:
    """What image_slots reads of a session (weakly referenced, as a real one)."""

    def __init__(self, load, settings, image=True, running=True, speed=None, side=28):
        self.trainer = SimpleNamespace(image_shape=(side, side) if image else None, classes=10)
        self.load, self.settings, self.running, self.speed = load, settings, running, speed


_session = FakeSession


def test_image_sessions_past_the_cap_train_at_the_capped_speed_in_the_order_they_started():
    settings = Settings(max_image_sessions=1, capped_image_speed=10.0)
    load = Load()
    a, b, c = (_session(load, settings) for _ in range(3))
    two_d = _session(load, settings, image=False)
    assert [image_slots.place(s) for s in (a, b, c)] == [0, 1, 2]
    assert image_slots.place(two_d) is None and image_slots.pace(two_d) is None
    assert image_slots.pace(a) is None and image_slots.notice(a) is None
    assert image_slots.pace(b) == 10.0 and image_slots.pace(c) == 10.0
    assert "max_image_sessions" in image_slots.notice(b) and "1 started before yours" in image_slots.notice(b)
    assert "2 started before yours" in image_slots.notice(c)
    b.speed = 5.0
    assert image_slots.pace(b) == 5.0  # a slower pace of its own is kept
    a.running = False  # the first pauses: the next in line trains at full speed
    b.speed = None
    assert image_slots.pace(b) is None and image_slots.capped(c)
    a.running = True  # and plays again: it joins the end of the line
    assert image_slots.place(a) == 2 and image_slots.capped(a)
    assert image_slots.frame_extras(two_d) == {}
    assert image_slots.frame_extras(a)["image"] == [28, 28]


def test_sessions_count_against_the_cap_by_their_image_size():
    """A 28 x 28 session counts 1, an 8 x 8 one 64/784: twelve of those fit where one MNIST does."""
    settings = Settings(max_image_sessions=1, capped_image_speed=10.0)
    load = Load()
    small = [_session(load, settings, side=8) for _ in range(13)]
    assert [image_slots.capped(s) for s in small] == [False] * 12 + [True]
    mnist = _session(load, settings)
    assert image_slots.capped(mnist) and "13 started before yours" in image_slots.notice(mnist)
    for s in small[:12]:
        s.running = False
    assert not image_slots.capped(small[12]) and image_slots.capped(mnist)  # 64/784 + 1 > 1


@pytest.mark.parametrize("bad", [{"max_image_sessions": -1}, {"capped_image_speed": 0}])
def test_image_cap_settings_are_checked(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Settings(**bad)
