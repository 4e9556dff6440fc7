"""Typed settings, logging and reference data: the only place that reads the environment."""

from config.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError"]
