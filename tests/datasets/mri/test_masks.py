import numpy as np
import pytest

from monarch_sci.datasets.mri.masks import (
    LineMaskFunc,
    acs_width,
    apply_line_mask,
    line_masks_for_volume,
    poisson_mask,
    volume_seed,
)

FILE = "file1000001.h5"

# Sampled column indices produced by fastmri 0.3.0's own classes (fastmri/data/subsample.py), with
# seed = tuple(map(ord, "file1000001.h5")) or the integer shown; computed once with that package.
FASTMRI_REFERENCE = [
    ("random", 4, 0.08, 64, FILE, 5, [3, 6, 7, 11, 15, 16, 30, 31, 32, 33, 34, 35, 38, 48, 50, 52, 57]),
    ("equispaced_fraction", 4, 0.08, 64, FILE, 5, [3, 8, 14, 19, 24, 30, 31, 32, 33, 34, 35, 41, 46, 51, 57, 62]),
    ("random", 8, 0.04, 96, 5, 4, [10, 30, 34, 36, 44, 46, 47, 48, 49, 52, 53, 67, 70, 89]),
    (
        "equispaced_fraction",
        2,
        0.16,
        50,
        11,
        8,
        [1, 3, 6, 8, 11, 13, 16, 18, 21, 22, 23, 24, 25, 26, 27, 28, 31, 33, 36, 38, 41, 43, 45, 48],
    ),
]


@pytest.mark.parametrize("kind,acc,frac,width,seed,num_low,cols", FASTMRI_REFERENCE)
def test_bit_identical_to_fastmri(kind, acc, frac, width, seed, num_low, cols):
    seed = volume_seed(seed) if isinstance(seed, str) else seed
    m = LineMaskFunc(kind, [acc], [frac])(width, seed=seed)
    assert m.num_low_frequencies == num_low
    assert np.flatnonzero(m.mask).tolist() == cols


@pytest.mark.parametrize("kind", ["random", "equispaced", "equispaced_fraction"])
@pytest.mark.parametrize("acc", [2, 4, 8])
def test_centre_and_acceleration(kind, acc):
    width = 368
    f = LineMaskFunc(kind, [acc])
    counts = []
    for s in range(40):
        m = f(width, seed=s)
        n = m.num_low_frequencies
        pad = (width - n + 1) // 2
        assert m.mask[pad : pad + n].all()
        assert acs_width(m.mask) >= n
        counts.append(m.mask.sum())
    mean = np.mean(counts)
    if kind == "equispaced":  # every R-th line plus the centre: more than W/R
        assert width / acc < mean < width / acc + f.center_fractions[0] * width + 1
    else:  # both are designed so that the number of lines is W/R (in expectation for random)
        assert abs(mean - width / acc) < 0.06 * width / acc


def test_seed_determinism_and_rng_state():
    f = LineMaskFunc("random", [4], seed=3)
    a = f(128, seed=volume_seed("/data/x/" + FILE))
    b = f(128, seed=volume_seed(FILE))
    assert (a.mask == b.mask).all()  # only the file name counts
    c = f(128, seed=volume_seed("file1000002.h5"))
    assert (a.mask != c.mask).any()
    # a seeded call leaves the object's own stream untouched
    g = LineMaskFunc("random", [4], seed=3)
    assert (f(128).mask == g(128).mask).all()


def test_policies():
    f = LineMaskFunc("random", [4])
    fixed = line_masks_for_volume(f, 96, 5, policy="fixed")
    fixed2 = line_masks_for_volume(f, 96, 5, policy="fixed", fname="other.h5")
    assert (fixed == fixed2).all() and (fixed == fixed[0]).all()
    vol = line_masks_for_volume(f, 96, 5, policy="volume", fname=FILE)
    assert (vol == vol[0]).all()
    assert (vol[0] == f(96, seed=volume_seed(FILE)).mask).all()
    per = line_masks_for_volume(f, 96, 5, policy="slice", fname=FILE)
    assert len({tuple(r) for r in per}) > 1
    with pytest.raises(ValueError, match="needs the volume's file name"):
        line_masks_for_volume(f, 96, 5, policy="slice")


def test_apply_line_mask_and_padding():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 4, 8, 16)) + 1j * rng.standard_normal((3, 4, 8, 16))
    mask = np.zeros(16, bool)
    mask[::2] = True
    out, eff = apply_line_mask(k, mask, padding=(2, 13))
    assert not eff[:2].any() and not eff[13:].any() and eff[2:13:2].all()
    assert (out[..., ~eff] == 0).all() and (out[..., eff] == k[..., eff]).all()
    per = np.stack([mask, ~mask, mask])
    out2, _ = apply_line_mask(k, per)
    assert (out2[1][..., mask] == 0).all() and (out2[1][..., ~mask] == k[1][..., ~mask]).all()
    with pytest.raises(ValueError, match="mask has 15 columns but k-space width is 16"):
        apply_line_mask(k, mask[:15])


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        LineMaskFunc("radial", [4])
    with pytest.raises(ValueError, match="no default centre fraction"):
        LineMaskFunc("random", [3])
    with pytest.raises(ValueError, match="one centre fraction per acceleration"):
        LineMaskFunc("random", [4, 8], [0.08])


@pytest.mark.parametrize("acc", [2, 4, 8])
def test_poisson_mask(acc):
    m = poisson_mask((64, 48), acc, calib=8, seed=1)
    assert m.shape == (64, 48) and m.dtype == bool
    assert m[28:36, 20:28].all()  # calibration square
    assert abs(m.size / m.sum() - acc) < 0.15 * acc
    assert (poisson_mask((64, 48), acc, calib=8, seed=1) == m).all()
    assert (poisson_mask((64, 48), acc, calib=8, seed=2) != m).any()


def test_poisson_mask_error_restates_input():
    with pytest.raises(ValueError, match=r"could not draw a \(32, 24\) Poisson-disc mask at acceleration 3"):
        poisson_mask((32, 24), 3, calib=6, seed=0)
