"""The backend's one MQTT session, shared by ingestion and command dispatch (the agent keeps
its own uplink). See ``session.py`` and docs/ingestion.md "Connection"."""

from backend.mqtt.link import ConnectError, Link, OnMessage
from backend.mqtt.session import MqttSession, Route, default_client_id

__all__ = ["ConnectError", "Link", "MqttSession", "OnMessage", "Route", "default_client_id"]
