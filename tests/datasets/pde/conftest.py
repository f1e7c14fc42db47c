"""Shared settings of the PDE data tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny FFTs only lose from intra-op threads, badly so on a shared machine; and one thread gives the same bits
    # as the subprocesses that the store tests run with --threads 1.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
