"""gda-vision applications."""
