"""Agents, meters, readings, meter events, ingestion and consumption."""
