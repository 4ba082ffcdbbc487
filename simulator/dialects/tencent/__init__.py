"""Tencent Cloud Number Protection (NPP, API 2019-08-23) on the provider's shared `/` endpoint."""

from .dialect import TencentDialect

__all__ = ["TencentDialect"]
