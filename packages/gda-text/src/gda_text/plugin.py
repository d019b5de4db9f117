"""Registers gda-text's components (and nothing else)."""

from __future__ import annotations

from gda_core import hookimpl

P = "gda_text"
