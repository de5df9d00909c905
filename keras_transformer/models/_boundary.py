"""Input checks at the entry points Keras compiles.

`fit`, `evaluate`, `predict` and the `*_on_batch` methods run the model in
a compiled step (a `tf.function`, XLA by default; `jax.jit`), where values
cannot be checked in Python and XLA drops asserts. So the data is checked
before Keras gets it, where that can raise:

- arrays and eager tensors (`x`, `y`, `validation_data`): in NumPy, once;
- a `tf.data.Dataset`: each batch, by a `map` in the input pipeline (not
  in the step); a failed check stops the pipeline and the TensorFlow error
  is turned back into the `ValueError` the same values give in NumPy;
- a Python generator or iterator: each batch, in Python, as it is drawn.

A `keras.utils.PyDataset` and an already distributed dataset are not
wrapped; the model's own checks (see `TokenAndPositionEmbedding`) are
what catches a bad id there.
"""

import collections.abc
import contextlib
import inspect

import keras

from keras_transformer import _backend
from keras_transformer.layers import _validation
from keras_transformer.models import _pipeline_checks


class InputChecks:
    """Mixin for a `keras.Model` subclass that defines
    `_input_rules(x, y) -> [(name, tensor, kind, (limit name, limit))]`:
    the token ids (`kind="ids"`) and labels (`kind="labels"`) of one batch
    (or of the whole arrays) and the range each must lie in."""

    def _check_values(self, x, y):
        for name, tensor, kind, limit in self._input_rules(x, y):
            values = _backend.concrete(tensor)
            if values is not None:
                _validation.check_values(
                    name, values, kind, limit, allow_empty=kind != "ids"
                )

    def _rules_of_element(self, element):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(element)
        return self._input_rules(x, y)

    def _checked_generator(self, batches):
        for batch in batches:
            x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
            try:
                self._check_values(x, y)
            except ValueError as error:
                message = _pipeline_checks.pipeline_message(str(error))
                raise ValueError(message) from None
            yield batch

    def _checked(self, x, y=None):
        """`(x, y)` checked now, or wrapped to be checked batch by batch."""
        if _pipeline_checks.is_dataset(x):
            return _pipeline_checks.checked_dataset(
                x, self._rules_of_element
            ), y
        if inspect.isgenerator(x) or isinstance(x, collections.abc.Iterator):
            return self._checked_generator(x), y
        if isinstance(x, keras.utils.PyDataset) or x is None:
            return x, y
        self._check_values(x, y)
        return x, y

    def _checked_validation(self, data):
        if data is None:
            return None
        if isinstance(data, (tuple, list)):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(data))
            self._check_values(x, y)
            return data
        return self._checked(data)[0]

    @contextlib.contextmanager
    def _pipeline_errors(self):
        try:
            yield
        except Exception as error:
            _pipeline_checks.raise_input_error(error)
            raise

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self._checked(x, y)
        if len(args) >= 6:  # validation_data passed by position
            args = args[:5] + (self._checked_validation(args[5]),) + args[6:]
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked_validation(
                kwargs["validation_data"]
            )
        with self._pipeline_errors():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self._checked(x, y)
        with self._pipeline_errors():
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x, _ = self._checked(x)
        with self._pipeline_errors():
            return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._check_values(x, y)
        return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        self._check_values(x, y)
        return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        self._check_values(x, None)
        return super().predict_on_batch(x)
