"""Changes to an account after energisation: category, closure, each a work order."""
