"""The core on a message broker (RabbitMQ, through aio-pika): retries and watchdogs as delayed messages
processed by every replica, instead of each replica scanning the operations table.

The database stays the truth: each change that needs a message writes it to the outbox in the same
transaction; the relay publishes outbox rows with confirms; the consumers claim before acting (the claim is
the fence that makes a duplicate or stale message harmless) and ack only after the attempt committed.
See docs/core.md, "Broker (RabbitMQ)". Nothing here is imported unless the core is given a broker.
"""

from .connection import BrokerUnavailable, broker_url_problem, driver_problem, masked

__all__ = ["BrokerUnavailable", "broker_url_problem", "driver_problem", "masked"]
