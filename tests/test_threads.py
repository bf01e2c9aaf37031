"""BLAS runs one thread during training whatever the import order; a user's setting wins."""

import json
import os
import subprocess
import sys

# numpy first, then ganlab; record the BLAS thread count inside a G update (during training).
PROBE = """
import json, numpy
from threadpoolctl import threadpool_info
from ganlab import Trainer
seen = []
t = Trainer(data="ring8", seed=0, batch_size=64)
update = t._g_update
def probe():
    seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
    return update()
t._g_update = probe
t.train(3)
print(json.dumps(seen))
"""


def _blas_threads(env: dict) -> list:
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    assert len(seen) == 3 and all(seen), seen  # a BLAS library was found at every update
    return seen


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**env, **extra}


def test_numpy_imported_first_still_trains_on_one_blas_thread():
    assert all(n == [1] * len(n) for n in _blas_threads(_clean_env()))


def test_a_thread_count_the_user_exported_is_respected():
    assert all(n == [2] * len(n) for n in _blas_threads(_clean_env(OPENBLAS_NUM_THREADS="2")))


def test_a_thread_count_set_after_numpy_loaded_still_applies():
    # A script that imports numpy, then sets OPENBLAS_NUM_THREADS=1 (too late for the BLAS to read
    # it), then imports ganlab: the setting must hold, not the BLAS's default of one per core.
    late = PROBE.replace("from ganlab import Trainer", "import os\nos.environ['OPENBLAS_NUM_THREADS'] = '1'\n"
                         "from ganlab import Trainer")
    r = subprocess.run([sys.executable, "-c", late], env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert all(n == [1] * len(n) for n in json.loads(r.stdout))
