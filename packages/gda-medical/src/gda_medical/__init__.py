"""GDA plugin: 3-D medical image augmentation with MONAI diffusion."""

__version__ = "0.1.0"
