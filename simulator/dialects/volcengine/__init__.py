"""Volcengine number privacy (service `vms`, API 2022-01-01) on the provider's shared `/` endpoint."""

from .dialect import VolcengineDialect

__all__ = ["VolcengineDialect"]
