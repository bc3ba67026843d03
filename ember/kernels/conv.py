"""NumPy reference kernels (conv); exported names are listed in __all__."""
__all__ = []
