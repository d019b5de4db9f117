"""gda-signal validators: TimeGAN discriminative and predictive scores."""
