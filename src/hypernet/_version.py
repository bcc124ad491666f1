"""The package version, in a module of its own so lower layers can name it without importing ``hypernet``."""

__version__ = "0.1.0"
