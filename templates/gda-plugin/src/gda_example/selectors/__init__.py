"""Selectors of the example plugin, one per module."""
