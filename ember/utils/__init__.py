"""ember.utils: data loading (ember.utils.data), as torch.utils."""
from . import data
