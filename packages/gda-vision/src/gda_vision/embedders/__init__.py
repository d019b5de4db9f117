"""gda-vision embedders."""
