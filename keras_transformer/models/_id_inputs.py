"""Models whose inputs are token ids, declared as such to Keras.

Keras knows a subclassed model's inputs only from `input_dtype` (by
default the compute dtype, float32) and the shapes `build` received (those
of the first call, when Keras builds the model), and makes two signatures
from them:

- `model.export()` without `input_signature` (`export_utils.
  get_input_signature`): the recorded shapes, batch axis freed, in
  `input_dtype`, and only for a model that has been called;
- the SavedModel writer traces every model's `_default_save_signature`
  (the same shapes in `input_dtype`) while it looks for resources to
  track, even when `export()` was given an `input_signature`.

Float32 ids fail the models' id check, so both failed. `IdInputs`
declares the inputs once (`_id_specs()`: int32 ids of any batch size and
length), builds the model from them, reports `input_dtype` int32 and gives
them to `export()` as its default signature, so a model exports before any
call and its SavedModel takes sequences of every length.
"""

import keras


class IdInputs:
    """Mixin for a `keras.Model` subclass taking integer token ids. The
    model defines `_id_specs()`: the `keras.InputSpec` structure of the
    one argument `call` takes (`inputs`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Keras casts float inputs to `input_dtype` before `call`, which
        # would turn 2.5 into the id 2: the ids reach `call` as given
        # (arrays too, as for Keras' own id layers such as
        # `IntegerLookup`), and `call` converts and checks them.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def _build_for_ids(self):
        """Makes the weights now, from the declared input shapes: Keras
        records these (not those of a first call, nor `None` for a call
        on NumPy arrays) as the shapes its default signatures and the
        `.keras` build config use."""
        self.build(
            keras.tree.map_structure(lambda s: s.shape, self._id_specs())
        )

    def _symbolic_build(self, iterator=None, data_batch=None):
        """Under a `tf.distribute` strategy, Keras' TensorFlow trainer
        builds the compiled loss and metrics from the mean of the
        replicas' first batches, which turns integer ids and labels into
        float64 ones that the id check refuses. Only the shapes and dtypes
        of that batch are used: the ids (and float64 labels, a mean of
        integers) get back an integer dtype."""
        if data_batch is not None:
            x, y, weights = keras.utils.unpack_x_y_sample_weight(data_batch)
            x = keras.tree.map_structure(_as_ids, x)
            y = keras.tree.map_structure(
                lambda t: _as_ids(t) if _dtype(t) == "float64" else t, y
            )
            data_batch = (x, y, weights)
        return super()._symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def input_dtype(self):
        """Token ids: int32 (what Keras builds default signatures in)."""
        return "int32"

    def export(
        self,
        filepath,
        format="tf_saved_model",
        verbose=None,
        input_signature=None,
        **kwargs,
    ):
        """`keras.Model.export`, by default with the model's signature:
        int32 ids of any batch size and length (`_id_specs()`). An
        `input_signature` lists the positional arguments of one call, so
        its one entry is the whole `inputs` structure; a flat list with
        one spec per input (`[source, target]`) is read as that one
        structure, since the model takes no other argument."""
        if input_signature is None:
            input_signature = [self._id_specs()]
        else:
            input_signature = self._as_one_argument(input_signature)
        return super().export(
            filepath,
            format=format,
            verbose=verbose,
            input_signature=input_signature,
            **kwargs,
        )

    def _as_one_argument(self, signature):
        specs = self._id_specs()
        flat = isinstance(signature, (list, tuple)) and not any(
            isinstance(s, (list, tuple, dict)) for s in signature
        )
        if isinstance(specs, tuple) and flat and len(signature) == len(specs):
            return [tuple(signature)]
        return signature


def id_spec(name=None):
    """int32 ids `(batch, length)`, both sizes free."""
    return keras.InputSpec(shape=(None, None), dtype="int32", name=name)


def _dtype(tensor):
    return keras.backend.standardize_dtype(tensor.dtype)


def _as_ids(tensor):
    """A floating tensor cast to int32 ids; anything else as it is."""
    if tensor is not None and "float" in _dtype(tensor):
        return keras.ops.cast(tensor, "int32")
    return tensor
