"""Pure, sans-I/O codecs and contracts shared by the edge agent and the backend.

Nothing in this package opens a socket, touches a database, sleeps or reads a clock:
bytes in, values out, and back.
"""
