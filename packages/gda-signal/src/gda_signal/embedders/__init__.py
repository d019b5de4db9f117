"""gda-signal embedders."""
