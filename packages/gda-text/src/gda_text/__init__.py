"""GDA plugin: text augmentation with LLMs (prompting, LoRA) and nlpaug baselines."""

__version__ = "0.1.0"
