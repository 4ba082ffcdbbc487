"""Everything a provider instance is configured with; one frozen value passed to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .connections import ConnectionLimits
from .numbers import DEFAULT_POOL_KEY, PoolSpec


@dataclass(frozen=True)
class AliyunCredentials:
    access_key_id: str = "pstnsim-ak"
    access_key_secret: str = "pstnsim-secret"
    pool_key: str = DEFAULT_POOL_KEY
    # Where SecretStartReport / SecretReport / SecretRecording arrays are pushed; None: no push.
    report_url: str | None = None


@dataclass(frozen=True)
class TencentCredentials:
    secret_id: str = "pstnsim-id"
    secret_key: str = "pstnsim-secret"
    biz_app_id: str = "pstnsim"


@dataclass(frozen=True)
class VolcengineCredentials:
    access_key_id: str = "pstnsim-ak"
    secret_access_key: str = "pstnsim-secret"
    # The vms number pool this key binds in; it names the provider's pool (every seeded number).
    number_pool_no: str = "NP000000000000000001"
    # Where call status events and call records are POSTed (vms's privacy-number callback); None: no push.
    callback_url: str | None = None
    # The console's AuthToken: each callback's URL carries authCode = SHA256(timestamp + SHA256(body) + token).
    auth_token: str = "pstnsim-token"


@dataclass(frozen=True)
class ProviderConfig:
    host: str = "127.0.0.1"
    port: int = 8090
    seed: int = 0
    pool: PoolSpec = field(default_factory=PoolSpec)
    faults_file: Path | None = None
    # Each exchange is appended to this JSON Lines file (format: simulator/traces/format.py); None: no trace.
    trace_file: Path | None = None
    # Where call records and binding events are pushed (native JSON); None: no push.
    webhook_url: str | None = None
    # The admin API (/_admin/*, /metrics). Refused on a non-loopback host unless allow_public_admin.
    admin: bool = True
    allow_public_admin: bool = False
    # /_admin/* and /metrics then need `Authorization: Bearer <token>` (--admin-token, [http] admin_token).
    admin_token: str | None = None
    # Host names the admin API answers to besides the address it serves on ([http] allowed_hosts).
    allowed_hosts: tuple[str, ...] = ()
    # Connection hygiene (simulator/connections.py, [http] in the config file): seconds a request head may
    # take, seconds an idle kept-alive connection stays, connections at once (None: 1000 or half the
    # open-file limit).
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_connections: int | None = None
    # None: wall-clock epoch at start; a number: a deterministic epoch (virtual-time runs).
    epoch: float | None = None
    max_body_bytes: int = 64 * 1024
    # The provider's gateway deadline: a request held longer than this (by injected latency) is answered
    # 504 at the deadline and never applied. It bounds how late a request can take effect, which is what
    # a client's "in doubt" window must exceed (docs/provider.md, "Late requests").
    request_deadline: float = 30.0
    # Serve this trace instead of the ledger's own answers (`pstnsim provider --replay`, docs/traces.md).
    replay_file: Path | None = None
    # A request the trace has no exchange for: "ledger" answers it from the ledger (preloaded with the
    # trace's bindings), "error" refuses it; either way the journal marks it UNRECORDED.
    replay_unrecorded: str = "ledger"
    # Recorded latencies (and the offsets a replay drives at) are divided by this.
    replay_speed: float = 1.0
    aliyun: tuple[AliyunCredentials, ...] = (AliyunCredentials(),)
    tencent: tuple[TencentCredentials, ...] = (TencentCredentials(),)
    volcengine: tuple[VolcengineCredentials, ...] = (VolcengineCredentials(),)

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(header_timeout=self.header_timeout, keepalive_timeout=self.keepalive_timeout,
                                max_connections=self.max_connections)
