import pytest

from gda_core.testing import restrict_plugins

from .helpers import tiny_clip, tiny_sd

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-vision")


# --- tiny randomly initialised checkpoints, saved once per session and loaded back by path ---


@pytest.fixture(scope="session")
def tiny_sd_path():
    """A Stable Diffusion pipeline folder of a few thousand random parameters (16 x 16 images)."""
    return tiny_sd()


@pytest.fixture(scope="session")
def tiny_clip_path():
    """A CLIP model + processor folder of a few thousand random parameters (16 x 16 input)."""
    return tiny_clip()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tiny models gain nothing from threads; on a shared 2-core machine one thread was ~4x faster."""
    import os

    os.environ.setdefault("GDA_TORCH_THREADS", "1")
    yield
