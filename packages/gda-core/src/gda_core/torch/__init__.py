"""Torch helpers for plugins (install ``gda-core[torch]``); the framework never imports them.

- :mod:`gda_core.torch.accelerators`: device and precision parameters, device / dtype choice,
  mixed precision, CPU threads, seeded generators.
- :mod:`gda_core.torch.weights`: safe weight loading (safetensors, weights-only ``torch.load``).
- :mod:`gda_core.torch.diffusion`: held-out checkpoint choice, DDIM inversion, slerp.
- :mod:`gda_core.torch.training`: the one training loop of GDA's torch generators.
- :mod:`gda_core.torch.sampling`: the one reverse-diffusion sampling loop.

Importing this package (or any of its modules) imports no torch: each function imports it when
called. The core's framework (pipeline, config, run folder, host, CLI, report, bench, built-ins)
imports none of these modules; ``tests/core/test_torch_boundary.py`` checks it.
"""
