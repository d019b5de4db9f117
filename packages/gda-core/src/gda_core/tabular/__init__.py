"""The components of the ``gda-core[tabular]`` extra: ``core.ctgan`` and ``core.tvae``, SDV's
``ctgan`` library on GDA's vector records (:mod:`.synthesizer` holds what both share).

Like a plugin, and unlike the torch-free framework, these modules use the torch helpers of
:mod:`gda_core.torch` (inside their methods): the extra pulls torch through ctgan. Listing and
describing them imports neither torch nor ctgan.
"""
