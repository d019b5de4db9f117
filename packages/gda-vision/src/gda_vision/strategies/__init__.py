"""gda-vision strategies."""
