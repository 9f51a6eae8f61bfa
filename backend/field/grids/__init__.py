"""backend.field.grids."""
