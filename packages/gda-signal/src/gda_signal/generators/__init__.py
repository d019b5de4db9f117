"""gda-signal generators: 1-D diffusion, mel-spectrogram diffusion, classical augmentation."""
