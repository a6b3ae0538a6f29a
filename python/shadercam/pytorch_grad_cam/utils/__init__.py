"""pytorch-grad-cam's `utils` package: `model_targets` and `image`."""
