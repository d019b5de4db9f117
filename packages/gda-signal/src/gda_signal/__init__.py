"""GDA plugin: time-series and audio augmentation with diffusion and torchaudio."""

__version__ = "0.1.0"
