"""gda-example: a template GDA plugin (class-aware jitter augmentation)."""

__version__ = "0.1.0"
