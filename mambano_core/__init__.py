"""mambano core library: models, operations, data, training and evaluation."""

__version__ = "0.2.0"
