"""gda-signal downstream applications."""
