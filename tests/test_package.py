import importlib

import keras

import keras_transformer


def test_version():
    assert keras_transformer.__version__ == "0.1.0"


def test_public_names_are_exported():
    for module in ("layers", "losses", "metrics", "schedules"):
        mod = importlib.import_module(f"keras_transformer.{module}")
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{module}.{name}"


def test_public_classes_are_registered():
    for name in keras_transformer.layers.__all__:
        obj = getattr(keras_transformer.layers, name)
        if isinstance(obj, type):
            registered = keras.saving.get_registered_name(obj)
            assert registered == f"keras_transformer>{name}"
