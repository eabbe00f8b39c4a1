"""The verification step's worker process: same logits as running in-process, errors surface."""
import numpy as np
import pytest

from ofa_mcu.errors import UserError
from ofa_mcu.quant.beside import beside


def _square(x):
    return np.asarray(x) ** 2


def _fail(msg):
    raise UserError(msg)


def _crash():
    import os

    os._exit(3)


@pytest.mark.parametrize("parallel", [True, False])
def test_beside_returns_what_the_call_returns(parallel):
    with beside(_square, np.arange(5), parallel=parallel) as fut:
        here = _square(np.arange(3))
    assert fut.result().tolist() == [0, 1, 4, 9, 16] and here.tolist() == [0, 1, 4]


@pytest.mark.parametrize("parallel", [True, False])
def test_beside_surfaces_the_worker_error_as_one_line(parallel):
    with pytest.raises(UserError, match="model does not fit"):
        with beside(_fail, "model does not fit", parallel=parallel) as fut:
            pass
        fut.result()


def test_a_worker_that_dies_is_a_one_line_error():
    with pytest.raises(UserError, match="worker process running _crash died"):
        with beside(_crash):
            pass


def test_tflm_in_a_worker_matches_tflm_here():
    """The host TFLM interpreter in a spawned worker gives the same int8 logits, bit for bit."""
    from ofa_mcu.config import get_space
    from ofa_mcu.quant.tflite_convert import convert_int8
    from ofa_mcu.quant.tflm_runner import run_tflm
    from ofa_mcu.space.arch import smallest_arch
    from ofa_mcu.space.folded import random_folded
    from ofa_mcu.space.table import build_table

    cfg = get_space("fashion_mnist")
    net = random_folded(build_table(smallest_arch(cfg), cfg), np.random.default_rng(1))
    x = np.random.default_rng(0).standard_normal((8, 1, net.table.image_size, net.table.image_size)).astype(np.float32)
    tfl = convert_int8(net, x)
    with beside(run_tflm, tfl, x) as fut:
        here = run_tflm(tfl, x)
    assert np.array_equal(fut.result(), here)
