"""Users, roles, password hashing, tokens and guards."""
