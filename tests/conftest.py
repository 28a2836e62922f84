import pytest


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch thread (deterministic timing on a shared 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
