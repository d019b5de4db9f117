"""gda-core's own components (generators, strategies, selectors, validators, applications,
data sets, embedders), registered by :mod:`gda_core.builtin.plugin` through the same hooks as any
third-party plugin. Nothing in the framework (``gda_core`` outside this package) imports them.
"""
