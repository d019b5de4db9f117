"""The libraries' warnings and progress bars (transformers, diffusers, torch, MONAI, ...):
silenced by every command unless ``--verbose``. Imports nothing heavy, so ``gda --help`` stays fast."""

from __future__ import annotations

import os
import sys

VERBOSE_HELP = ("show the libraries' warnings and progress bars (transformers, diffusers, torch, MONAI, "
                "scikit-learn, ...); without it they are silenced")
"""The ``--verbose`` option's help, the same on every command that runs components."""


def silence_libraries() -> None:
    """Quiet the warnings and progress bars of the libraries plugins use (transformers, peft,
    diffusers, torch, MONAI, huggingface_hub, Python warnings): what every command does unless
    ``--verbose``. GDA's own progress and ``gda:`` messages are not affected (``--quiet`` is)."""
    import logging
    import warnings

    for var in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        os.environ[var] = "error"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    warnings.filterwarnings("ignore")
    for name in ("transformers", "peft", "diffusers", "torch", "monai", "huggingface_hub", "accelerate",
                 "nlpaug", "aeon", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # a library imported already read the variables at import: switch its bars off itself
    for module, attr in (("transformers.utils.logging", "disable_progress_bar"),
                         ("diffusers.utils.logging", "disable_progress_bar"),
                         ("huggingface_hub.utils", "disable_progress_bars")):
        if module in sys.modules:
            getattr(sys.modules[module], attr, lambda: None)()
