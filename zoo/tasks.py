"""The zoo's tasks in one place: each task's family (the `FAMILY` of
`zoo/<task>/train.py`), the model class its runs save, and the commands
that use a finished run."""

import importlib

# task -> the class a run's model.keras holds
MODEL_CLASSES = {
    "vit": "VisionTransformer",
    "translation": "Transformer",
    "gpt": "GPT",
    "seq2seq": "Seq2SeqLSTM",
    "text2image": "GPT",
}
TASKS = tuple(MODEL_CLASSES)
# task -> "module:class" of the preset dataclass in its config.json
CONFIG_CLASSES = {
    "vit": "zoo.vit.config:ViTConfig",
    "translation": "zoo.translation.config:TranslationConfig",
    "gpt": "zoo.gpt.config:GPTConfig",
    "seq2seq": "zoo.seq2seq.config:Seq2SeqConfig",
    "text2image": "zoo.text2image.config:Text2ImageConfig",
}
# The module that registers a task's model class, when the library does not.
MODEL_MODULES = {"seq2seq": "zoo.seq2seq.model"}

# task -> command -> "module:function" taking the command's arguments
COMMANDS = {
    "vit": {
        "evaluate": "zoo.vit.evaluate:evaluate_main",
        "predict": "zoo.vit.evaluate:predict_main",
        "export": "zoo.vit.export:export_main",
        "finetune": "zoo.vit.finetune:finetune_main",
    },
    "translation": {
        "evaluate": "zoo.translation.evaluate:evaluate_main",
        "translate": "zoo.translation.evaluate:translate_main",
        "export": "zoo.translation.evaluate:export_main",
    },
    "gpt": {
        "evaluate": "zoo.gpt.evaluate:evaluate_main",
        "generate": "zoo.gpt.evaluate:generate_main",
        "export": "zoo.gpt.evaluate:export_main",
        "finetune": "zoo.gpt.finetune:finetune_main",
    },
    # The recurrent baseline is used as a translation run is.
    "seq2seq": {
        "evaluate": "zoo.translation.evaluate:evaluate_main",
        "translate": "zoo.translation.evaluate:translate_main",
    },
    "text2image": {
        "evaluate": "zoo.text2image.judge:evaluate_main",
        "generate": "zoo.text2image.evaluate:generate_main",
    },
}


def family(task):
    """The `recipe.Family` of `task`."""
    return importlib.import_module(f"zoo.{task}.train").FAMILY


def _attribute(target):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def config_class(task):
    """The dataclass that a `task` run's recorded config builds."""
    return _attribute(CONFIG_CLASSES[task])


def register_model_class(task):
    """Imports what registers `task`'s saved model class with Keras."""
    importlib.import_module(MODEL_MODULES.get(task, "keras_transformer"))


def command(task, name):
    """The function behind `python -m zoo NAME` for a `task` run, or
    `None` when the command does not apply to it."""
    target = COMMANDS[task].get(name)
    if target is None:
        return None
    return _attribute(target)
