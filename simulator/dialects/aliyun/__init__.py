"""Aliyun Phone Number Protection (dyplsapi 2017-05-25): signing, wire format, errors, actions, call reports."""

from .dialect import AliyunDialect

__all__ = ["AliyunDialect"]
