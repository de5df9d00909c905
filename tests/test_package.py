"""The public API: every `__all__` name exists, what the package offers its
users is listed in an `__all__`, and the API reference documents it."""

import importlib
import inspect
import pathlib
import pkgutil
import re

import keras

import keras_transformer

ROOT = pathlib.Path(__file__).resolve().parents[1]
API_DOCS = sorted((ROOT / "docs" / "api").glob("*.md"))

# Exported, but not yet on an API reference page.
NOT_IN_API_REFERENCE = {
    "keras_transformer.generation.length_normalizer",
    "keras_transformer.text.normalize",
    "keras_transformer.visualization.plot_attention_heads",
    "keras_transformer.visualization.plot_attention_overlays",
    "keras_transformer.visualization.plot_history",
}


def all_modules():
    """Every module of the package, imported, by name."""
    modules = {"keras_transformer": keras_transformer}
    for info in pkgutil.walk_packages(
        keras_transformer.__path__, "keras_transformer."
    ):
        modules[info.name] = importlib.import_module(info.name)
    return modules


def is_private(module_name):
    return any(part.startswith("_") for part in module_name.split("."))


def namespaces():
    """The public modules that declare an `__all__`, by name."""
    return {
        name: module
        for name, module in all_modules().items()
        if not is_private(name) and hasattr(module, "__all__")
    }


def exported():
    """`{qualified name: object}` for every name in every `__all__`."""
    return {
        f"{name}.{attr}": getattr(module, attr)
        for name, module in namespaces().items()
        for attr in module.__all__
        if hasattr(module, attr)
    }


def snake_case(class_name):
    """`VisionTransformer` -> `vision_transformer`, `GPT` -> `gpt`."""
    words = re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name
    )
    return words.lower()


def is_api_object(obj):
    return inspect.isclass(obj) or inspect.isfunction(obj)


def test_version():
    assert keras_transformer.__version__ == "0.1.0"


def test_public_names_are_exported():
    spaces = namespaces()
    assert {"keras_transformer.layers", "keras_transformer.models"} <= set(
        spaces
    )
    for name, module in spaces.items():
        listed = module.__all__
        assert len(set(listed)) == len(listed), f"{name}.__all__ repeats"
        for attr in listed:
            assert hasattr(module, attr), f"{name}.{attr} is in __all__"
            obj = getattr(module, attr)
            if inspect.ismodule(obj):
                assert obj.__name__ == f"{name}.{attr}", obj.__name__
            elif is_api_object(obj):
                root = obj.__module__.split(".")[0]
                assert root == "keras_transformer", (name, attr, root)
        if not hasattr(module, "__path__"):
            continue
        # A package's `__init__` only re-exports: all it imports is listed.
        imported = {
            attr
            for attr, obj in vars(module).items()
            if not attr.startswith("_") and not inspect.ismodule(obj)
        }
        plain = {
            attr
            for attr in listed
            if not attr.startswith("_")
            and not inspect.ismodule(getattr(module, attr))
        }
        assert imported == plain, (name, sorted(imported ^ plain))

    objects = {id(obj) for obj in exported().values()}
    for module_name, module in all_modules().items():
        if is_private(module_name):
            continue
        for attr, obj in vars(module).items():
            # One concept per module: the class named after its module.
            if (
                inspect.isclass(obj)
                and obj.__module__ == module_name
                and snake_case(attr) == module_name.rsplit(".", 1)[1]
            ):
                assert id(obj) in objects, f"{module_name}.{attr} not exported"
    for key, obj in keras.saving.get_custom_objects().items():
        if key.startswith("keras_transformer>"):
            assert id(obj) in objects, f"{key} is registered, not exported"


def api_reference_entries():
    """The objects the `::: keras_transformer...` entries of docs/api/
    render, by their dotted names."""
    entries = {}
    for page in API_DOCS:
        for target in re.findall(
            r"^::: (keras_transformer[\w.]*)\s*$", page.read_text(), re.M
        ):
            parent, attr = target.rsplit(".", 1)
            module = importlib.import_module(parent)
            assert attr in getattr(module, "__all__", ()), (page.name, target)
            entries[target] = getattr(module, attr)
    return entries


def test_public_names_are_documented():
    entries = api_reference_entries()
    documented_modules = {
        obj.__name__ for obj in entries.values() if inspect.ismodule(obj)
    }
    documented_objects = {id(obj) for obj in entries.values()}
    undocumented = {}
    for name, obj in exported().items():
        if (
            is_api_object(obj)
            and id(obj) not in documented_objects
            and obj.__module__ not in documented_modules
        ):
            undocumented.setdefault(id(obj), []).append(name)
    # An object exported twice is named by its shortest path.
    missing = {
        min(names, key=lambda name: (name.count("."), name))
        for names in undocumented.values()
    }
    assert missing == NOT_IN_API_REFERENCE, (
        "undocumented",
        sorted(missing - NOT_IN_API_REFERENCE),
        "documented now, drop from NOT_IN_API_REFERENCE",
        sorted(NOT_IN_API_REFERENCE - missing),
    )


def test_public_classes_are_registered():
    keras_bases = (
        keras.layers.Layer,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.optimizers.schedules.LearningRateSchedule,
    )
    for name, obj in exported().items():
        if inspect.isclass(obj) and issubclass(obj, keras_bases):
            registered = keras.saving.get_registered_name(obj)
            assert registered == f"keras_transformer>{obj.__name__}", name
