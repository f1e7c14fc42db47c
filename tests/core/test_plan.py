import pytest
import torch

from monarch_sci.multiply import monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan, closest_factor, plan_equal_blocks, plan_monarch
from monarch_sci.projection import sub_block_ranks


def test_classic_square_plan():
    plan = plan_monarch(64)
    assert (plan.r_shape, plan.l_shape) == ((8, 8, 8), (8, 8, 8))
    assert plan.num_params == 2 * 64 * 8
    assert not plan.padded
    assert plan_monarch(64) is plan  # cached


@pytest.mark.parametrize("n", [12, 48, 100, 360, 1000])
def test_closest_factor_plan(n):
    plan = plan_monarch(n)
    assert plan.k == closest_factor(n) and plan.k * plan.p == n and plan.n_out == n
    assert plan.k <= n**0.5 < plan.p or plan.k == plan.p
    assert (sub_block_ranks(plan) == 1).all()  # default plans are fully mixing


@pytest.mark.parametrize("n", [7, 13, 97])
def test_primes_refused_without_pad(n):
    with pytest.raises(ValueError, match=rf"in_features={n} has no useful factorisation.*pad=True"):
        plan_monarch(n)


@pytest.mark.parametrize("n", [7, 13, 97])
def test_primes_padded(n):
    plan = plan_monarch(n, pad=True)
    assert plan.padded and plan.n_in > n and plan.n_out >= n
    assert plan.k > 1 and plan.p > 1
    x = torch.randn(3, plan.n_in, dtype=torch.float64)
    r = torch.randn(plan.r_shape, dtype=torch.float64)
    l = torch.randn(plan.l_shape, dtype=torch.float64)
    assert monarch_multiply(x, r, l).shape == (3, plan.n_out)


def test_requested_nblocks():
    plan = plan_monarch(64, nblocks=2)
    assert (plan.k, plan.p) == (2, 32)
    assert plan.n_in == plan.n_out == 64
    with pytest.raises(ValueError, match=r"nblocks=5 does not divide in_features=64"):
        plan_monarch(64, nblocks=5)
    padded = plan_monarch(64, nblocks=5, pad=True)
    assert padded.n_in == 65 and padded.k == 5
    with pytest.raises(ValueError, match=r"nblocks must be in \[1, 64\]"):
        plan_monarch(64, nblocks=65)


def test_rectangular_plan():
    plan = plan_monarch(48, 100)
    assert plan.r_shape == (6, 10, 8) and plan.l_shape == (10, 10, 6)
    assert (plan.n_in, plan.n_out) == (48, 100)
    r = torch.randn(plan.r_shape, dtype=torch.float64)
    l = torch.randn(plan.l_shape, dtype=torch.float64)
    assert monarch_to_dense(r, l).shape == (100, 48)
    with pytest.raises(ValueError, match=r"out_features=101 has no useful factorisation"):
        plan_monarch(48, 101)
    assert plan_monarch(48, 101, pad=True).n_out >= 101


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_sizes(bad):
    with pytest.raises(ValueError, match=r"plan_monarch: expected a positive integer in_features"):
        plan_monarch(bad)


def test_every_padded_plan_is_consistent():
    for n_in in range(2, 60):
        for n_out in (n_in, 17, 40):
            plan = plan_monarch(n_in, n_out, pad=True)
            assert plan.n_in >= n_in and plan.n_out >= n_out
            assert plan.l * plan.r == plan.k * plan.q


def test_plan_validation_names_the_problem():
    with pytest.raises(ValueError, match=r"MonarchPlan: factor shapes do not chain.*k·q=24.*l·r=25"):
        MonarchPlan.from_shapes((4, 6, 2), (5, 5, 5))
    with pytest.raises(ValueError, match=r"positive integer"):
        MonarchPlan(4, 4, k=0, q=1, p=1, l=1, s=1, r=1)
    with pytest.raises(ValueError, match=r"smaller than the matrix"):
        MonarchPlan.from_shapes((2, 2, 2), (2, 2, 2), in_features=5)


def test_from_shapes():
    plan = MonarchPlan.from_shapes((4, 6, 2), (3, 5, 8))
    assert (plan.in_features, plan.out_features, plan.num_params) == (8, 15, 48 + 120)
    assert sub_block_ranks(plan).tolist() == [[2, 2, 2, 2]] * 3


def test_equal_blocks_plan():
    plan = plan_equal_blocks(64, nblocks=4)
    assert plan.r_shape == plan.l_shape == (4, 16, 16)
    assert (sub_block_ranks(plan) == 4).all()
    rect = plan_equal_blocks(32, 64, nblocks=4)
    assert rect.r_shape == (4, 8, 8) and rect.l_shape == (4, 16, 8)
    with pytest.raises(ValueError, match=r"nblocks=3 does not divide in_features=64"):
        plan_equal_blocks(64, nblocks=3)
    padded = plan_equal_blocks(10, 7, nblocks=3, pad=True)
    assert (padded.n_in, padded.n_out) == (12, 9)
    # Hidden blocks of 3 spread over 3 L blocks: rank one everywhere.
    assert (sub_block_ranks(padded) == 1).all()
    uneven = plan_equal_blocks(12, nblocks=3)  # hidden block 4, 3 blocks: ranks 2, 1, 1 per R block
    assert sorted(sub_block_ranks(uneven)[:, 0].tolist()) == [1, 1, 2]
