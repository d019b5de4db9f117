"""gda-vision selectors."""
