"""NumPy reference kernels (nn); exported names are listed in __all__."""
__all__ = []
