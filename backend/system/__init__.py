"""System capability: health, version, dead letters shared by all ingestion paths."""
