import keras
import numpy as np

from keras_transformer.layers import DecoderLayer, EncoderLayer, TokenAndPositionEmbedding
from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
from keras_transformer.metrics import MaskedAccuracy
from keras_transformer.schedules import WarmupSchedule

vocab_size, length, d_model = 50, 10, 32
src, tgt = keras.Input((length,), dtype="int32"), keras.Input((length,), dtype="int32")
context = EncoderLayer(d_model, num_heads=4, d_ff=64)(TokenAndPositionEmbedding(vocab_size, d_model, length)(src))
x = DecoderLayer(d_model, num_heads=4, d_ff=64)(TokenAndPositionEmbedding(vocab_size, d_model, length)(tgt), context)
model = keras.Model([src, tgt], keras.layers.Dense(vocab_size, dtype="float32")(x))
optimizer = keras.optimizers.Adam(WarmupSchedule(d_model, warmup_steps=20), beta_2=0.98, epsilon=1e-9)
model.compile(optimizer, MaskedSparseCategoricalCrossentropy(label_smoothing=0.1), metrics=[MaskedAccuracy()])
ids = np.random.default_rng(0).integers(1, vocab_size, size=(512, length + 1))  # task: copy the source
history = model.fit([ids[:, 1:], ids[:, :-1]], ids[:, 1:], batch_size=32, epochs=1)  # decoder input is shifted right
