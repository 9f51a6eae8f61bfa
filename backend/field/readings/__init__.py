"""backend.field.readings."""
