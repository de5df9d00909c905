"""Checks of an input pipeline's batches, in the pipeline: the value
rules of `keras_transformer.layers._validation`, as TensorFlow asserts in
a `tf.data` map, and the way back from their errors to a `ValueError`."""

from keras_transformer.layers import _validation

# A failed check in an input pipeline (a tf.data map, a generator) shows as
# whatever error the pipeline raises; its message holds the check's between
# these marks, where `raise_input_error` finds it.
PIPELINE_CHECK = "[input check] "
PIPELINE_CHECK_END = " [/input check]"


def pipeline_message(text):
    return f"{PIPELINE_CHECK}{text}{PIPELINE_CHECK_END}"


def is_dataset(x):
    if "tensorflow" not in type(x).__module__:
        return False
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def checked_dataset(dataset, rules_of):
    """`dataset` with every batch checked in the input pipeline.

    `rules_of(element)` returns `(name, tensor, kind, limit)` rules (see
    `keras_transformer.layers._validation.check_values`) for one element;
    a failed rule stops the iteration with a TensorFlow error that
    `raise_input_error` turns into the `ValueError` the same values give
    in NumPy. The checks run in tf.data's threads, beside the training
    step, not in it (and not under XLA, which would drop them).
    """
    import tensorflow as tf

    def check(*element):
        element = element[0] if len(element) == 1 else element
        asserts = []
        for name, tensor, kind, limit in rules_of(element):
            asserts.extend(_graph_rule(name, tensor, kind, limit))
        with tf.control_dependencies(asserts):
            return tf.nest.map_structure(tf.identity, element)

    return dataset.map(
        check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _graph_rule(name, tensor, kind, limit):
    """TensorFlow asserts of one rule, with the messages of
    `_validation.check_values`."""
    import tensorflow as tf

    tensor = tf.convert_to_tensor(tensor)
    problem = _validation.dtype_problem(name, tensor.dtype, kind)
    if problem is not None:
        raise ValueError(problem)
    flat = tf.reshape(tensor, [-1])
    ok = tf.logical_and(
        tf.reduce_all(flat >= tf.cast(0, flat.dtype)),
        tf.reduce_all(flat < tf.cast(limit[1], flat.dtype)),
    )
    if not flat.dtype.is_integer:
        whole = tf.reduce_all(tf.equal(flat, tf.round(flat)))
        ok = tf.logical_and(ok, whole)
    received = tf.strings.join(
        [
            PIPELINE_CHECK,
            _validation.range_problem(name, kind, limit),
            " Received: min ",
            tf.strings.as_string(tf.reduce_min(flat)),
            ", max ",
            tf.strings.as_string(tf.reduce_max(flat)),
            PIPELINE_CHECK_END,
        ]
    )
    asserts = [tf.debugging.Assert(ok, [received])]
    if kind == "ids":
        asserts.append(
            tf.debugging.Assert(
                tf.shape(tensor)[-1] > 0,
                [pipeline_message(_validation.empty_problem(name))],
            )
        )
    return asserts


def raise_input_error(error):
    """Re-raises a failed pipeline check (an error whose message holds
    one between the `PIPELINE_CHECK` marks) as a `ValueError` with the
    check's message; returns quietly for any other error."""
    text = str(error)
    start = text.find(PIPELINE_CHECK)
    end = text.find(PIPELINE_CHECK_END, start)
    if start < 0 or end < 0:
        return
    message = text[start + len(PIPELINE_CHECK) : end]
    raise ValueError(f"{message} (in a batch of the input pipeline)") from None
