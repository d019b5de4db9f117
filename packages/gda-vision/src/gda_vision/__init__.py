"""GDA plugin: 2-D image augmentation with diffusers."""

__version__ = "0.1.0"
