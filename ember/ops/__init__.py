"""Op families: each op is one Function (forward and backward side by side) plus its wrapper."""
