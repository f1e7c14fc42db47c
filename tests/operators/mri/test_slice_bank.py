"""Slice banks: maps made by the one ESPIRiT with its settings recorded; the old module path still imports."""

import importlib

import numpy as np
import pytest

from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
from monarch_sci.operators.mri.coil_maps import espirit_maps, espirit_settings
from monarch_sci.operators.mri.slice_bank import ReconSlices, SliceBank, load_slice_bank


def test_maps_are_the_shared_estimate_and_recorded(tmp_path):
    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=2, oversampling=1, seed=3)
    files = simulate_dataset(tmp_path, cfg, 2)
    bank = load_slice_bank(tmp_path, cache=tmp_path / "cache.pt")
    assert bank.maps_settings == espirit_settings(8)
    import h5py

    with h5py.File(files[1], "r") as hf:
        k = np.asarray(hf["kspace"][1])
    np.testing.assert_array_equal(bank.maps[3].numpy(), espirit_maps(k, 8))
    again = load_slice_bank(tmp_path, cache=tmp_path / "cache.pt")  # from the cache, settings included
    assert again.maps_settings == bank.maps_settings
    assert bank.subset([1]).maps_settings == bank.maps_settings
    assert len(ReconSlices(bank, accel=2)) == 4


def test_moved_names_warn_from_the_old_module():
    recon_task = importlib.import_module("monarch_sci.operators.mri.recon_task")
    with pytest.warns(DeprecationWarning, match="moved to monarch_sci.operators.mri.slice_bank.SliceBank"):
        assert recon_task.SliceBank is SliceBank
    with pytest.warns(DeprecationWarning, match="coil_maps.espirit_maps"):
        assert recon_task.espirit_maps is espirit_maps
    with pytest.raises(AttributeError):
        recon_task.no_such_name  # noqa: B018


def test_the_cache_key_holds_the_files_and_the_espirit_settings(tmp_path):
    from monarch_sci.operators.mri import coil_maps
    from monarch_sci.operators.mri.slice_bank import slice_bank_cache

    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=1, oversampling=1, seed=4)
    simulate_dataset(tmp_path / "d", cfg, 1)
    cache = slice_bank_cache(tmp_path / "d", cache_dir=tmp_path / "c")
    assert cache == slice_bank_cache(tmp_path / "d", calib=8, cache_dir=tmp_path / "c")  # the default calib
    assert cache != slice_bank_cache(tmp_path / "d", calib=10, cache_dir=tmp_path / "c")
    bank = load_slice_bank(tmp_path / "d", cache_dir=tmp_path / "c")
    assert [p.name for p in (tmp_path / "c").iterdir()] == [cache.name]
    maps = coil_maps.CoilMapSpec(thresh=0.05)  # another ESPIRiT setting: another file
    other = slice_bank_cache(tmp_path / "d", cache_dir=tmp_path / "c", coil_maps=maps)
    assert other != cache
    again = load_slice_bank(tmp_path / "d", cache_dir=tmp_path / "c", coil_maps=maps)
    assert again.maps_settings["thresh"] == 0.05 != bank.maps_settings["thresh"] and other.is_file()
