"""backend.field.books."""
