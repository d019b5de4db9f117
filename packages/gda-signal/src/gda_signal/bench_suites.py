"""gda-signal's ``gda bench`` suites: GunPoint and ItalyPowerDemand (UCR, shipped by aeon).

No heavy import here: ``gda bench --list`` loads this module.
"""

from __future__ import annotations

from gda_core.bench import DownstreamModel, Method, Suite, near_copy_method, pool_methods, standard_methods

D1 = "generators:signal.diffusion1d"


def _ucr_suite(name: str, dataset: str, k_shot: int, summary: str, steps: int = 2000) -> Suite:
    return Suite(
        name=name,
        summary=summary,
        config={
            "dataset": {"name": "signal.ucr", "params": {"name": dataset, "k_shot": k_shot}},
            "generator": {"name": "signal.diffusion1d", "params": {
                "steps": steps, "base_channels": 32, "channel_mults": [1, 2, 2], "sampler": "ddim",
                "num_inference_steps": 50}},
            "generate": {"per_class": 5 * k_shot, "shard_size": 100},
            "selectors": [{"name": "core.confidence", "params": {"threshold": 0.5}}],
            "baselines": ["signal.classical"],
            "application": {"name": "signal.classifier", "params": {"model": "minirocket"}},
            "embedder": {"name": "signal.embedder", "params": {"model": "minirocket"}},
        },
        downstream=[
            DownstreamModel("minirocket", {"name": "signal.classifier", "params": {"model": "minirocket"}},
                            strong=True),
            DownstreamModel("3-nn", {"name": "core.classification", "params": {"model": "knn"}}),
        ],
        methods=standard_methods(
            *pool_methods(),
            near_copy_method(),
            Method("gen strength 0.5", "generative", overrides=("generator.params.strength=0.5",),
                   requires=(f"{D1}#strength",), summary="real-guided variation (SDEdit) at strength 0.5"),
            Method("gen interpolation", "generative",
                   overrides=("generator.params.interpolate=true", "generator.params.strength=0.6"),
                   requires=(f"{D1}#interpolate",), summary="DDIM-inverted spherical interpolation"),
            Method("gen augmentation", "generative",
                   overrides=("generator.params.augment=[shift, scale]",),
                   requires=(f"{D1}#augment",), summary="non-leaking shift/scale augmentation in training"),
        ),
        quick=("generator.params.steps=80", "generator.params.base_channels=16", "generator.params.batch_size=16",
               "generator.params.num_inference_steps=8",
               f"generate.per_class={2 * k_shot}"),
        quick_ratios=(0.5, 1.0, 2.0, 5.0),
        features="core.flatten",
        memory_gb=2.0,
    )


def gunpoint_suite() -> Suite:
    """GunPoint, 10 labelled series per class; 1-D diffusion (1000 steps: the series are 150 long, six
    times ItalyPowerDemand's, and the set is saturated, a sanity check); MiniRocket and 3-NN downstream."""
    return _ucr_suite("gunpoint", "GunPoint", 10,
                      "GunPoint 10-shot, signal.diffusion1d; MiniRocket and 3-NN (saturated: a sanity check)",
                      steps=1000)


def italypower_suite() -> Suite:
    """ItalyPowerDemand (length 24, 1029 test series), 10 labelled series per class."""
    return _ucr_suite("italypower", "ItalyPowerDemand", 10,
                      "ItalyPowerDemand 10-shot, signal.diffusion1d; MiniRocket and 3-NN")
