"""Adam and AdamW against their formulas (PyTorch's documented algorithm), written here in plain NumPy."""

import numpy as np
import pytest

from fastconv.training import optim


def adam_by_formula(param, grads, lr, betas, eps, weight_decay, decoupled):
    """The parameter after each step of the textbook algorithm (torch.optim.Adam / AdamW docs), in float64."""
    beta1, beta2 = betas
    theta = param.astype(np.float64).copy()
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if decoupled:
            theta = theta - lr * weight_decay * theta
        else:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        trajectory.append(theta.copy())
    return trajectory


CASES = [
    (optim.Adam, dict(), False),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), False),
    (optim.Adam, dict(lr=0.05, betas=(0.3, 0.9)), False),  # 1 - beta1 above 0.5: torch's other lerp branch
    (optim.AdamW, dict(), True),
    (optim.AdamW, dict(lr=0.02, weight_decay=0.3, betas=(0.5, 0.95)), True),
]


@pytest.mark.parametrize("cls, kwargs, decoupled", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_and_adamw_follow_the_formulas(cls, kwargs, decoupled, dtype, rng):
    params = {"w": rng.standard_normal((3, 4)).astype(dtype), "b": rng.standard_normal(4).astype(dtype)}
    start = {k: v.copy() for k, v in params.items()}
    grads = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(6)]
    opt = cls(params, **kwargs)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2 if decoupled else 0.0)
    settings = dict(defaults, **kwargs)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    trajectories = {
        name: adam_by_formula(start[name], [g[name] for g in grads], decoupled=decoupled, **settings) for name in params
    }
    arrays = dict(params)
    for t, g in enumerate(grads):
        opt.step(g)
        assert opt.steps == t + 1
        for name, value in params.items():
            assert value is arrays[name] and value.dtype == dtype  # updated in place
            np.testing.assert_allclose(value, trajectories[name][t], **tol)


def test_adam_defaults_are_pytorchs():
    adam, adamw = optim.Adam({}), optim.AdamW({})
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert (adamw.lr, adamw.betas, adamw.eps, adamw.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 1e-2)


def test_bias_correction_makes_the_first_step_lr_times_the_sign():
    p = {"w": np.array([1.0, -2.0, 3.0])}
    optim.Adam(p, lr=0.1).step({"w": np.array([0.5, -4.0, 1e-3])})
    np.testing.assert_allclose(p["w"], [0.9, -1.9, 2.9], rtol=1e-6)


def test_a_learning_rate_given_to_step_wins_and_schedules_reach_adam():
    p, q = {"w": np.array([1.0])}, {"w": np.array([1.0])}
    optim.Adam(p, lr=0.5).step({"w": np.array([1.0])}, lr=0.1)
    optim.Adam(q, lr=0.1).step({"w": np.array([1.0])})
    assert p["w"][0] == q["w"][0] == pytest.approx(0.9)


def test_adam_refuses_a_non_finite_step_and_keeps_its_state():
    p = {"w": np.array([1.0, 2.0]), "b": np.array([0.5])}
    opt = optim.Adam(p, lr=0.1)
    opt.step({"w": np.array([1.0, 1.0]), "b": np.array([1.0])})
    before = {k: v.copy() for k, v in p.items()}
    state = {k: {s: a.copy() for s, a in v.items()} for k, v in opt.state.items()}
    with pytest.raises(optim.TrainingDiverged):
        opt.step({"w": np.array([1.0, 1.0]), "b": np.array([np.nan])})
    for name in p:
        np.testing.assert_array_equal(p[name], before[name])
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(opt.state[name][key], state[name][key])
    assert opt.steps == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(lr=-1.0), ValueError, "lr must be in"),
        (dict(betas=(1.0, 0.9)), ValueError, r"betas\[0\] must be in"),
        (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in"),
        (dict(betas=0.9), TypeError, "betas must be a pair"),
        (dict(eps=-1e-8), ValueError, "eps must be in"),
        (dict(weight_decay=-0.1), ValueError, "weight_decay must be in"),
        (dict(lr="fast"), TypeError, "lr must be a real number"),
    ],
)
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_rejects_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls({"w": np.zeros(2)}, **kwargs)


def test_sgd_step_needs_a_learning_rate():
    with pytest.raises(ValueError, match="needs a learning rate"):
        optim.SGD({"w": np.zeros(2)}).step({"w": np.ones(2)})
    p = {"w": np.array([1.0])}
    optim.SGD(p, momentum=0.5, lr=0.1).step({"w": np.array([1.0])})
    assert p["w"][0] == pytest.approx(0.9)
