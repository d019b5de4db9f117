"""gda-vision generators."""
