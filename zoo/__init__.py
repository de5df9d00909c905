"""Training recipes for keras_transformer, run as `python -m zoo ...`."""
