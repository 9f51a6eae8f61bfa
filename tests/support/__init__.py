"""Real services for the tests: Mosquitto and PostgreSQL, started once per run."""
