"""Vision Transformer recipes: digits, MNIST, CIFAR-10."""
