"""gda-vision validators."""
