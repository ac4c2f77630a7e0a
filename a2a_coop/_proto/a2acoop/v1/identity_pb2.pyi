from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Mandate(_message.Message):
    __slots__ = ("agent", "valid_from_ms", "valid_until_ms", "currency", "max_per_deal", "min_per_deal", "budget_per_period", "period_ms", "max_outstanding", "allowed_categories", "allowed_counterparties", "execution_window_end_ms", "succeeds")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_DEAL_FIELD_NUMBER: _ClassVar[int]
    MIN_PER_DEAL_FIELD_NUMBER: _ClassVar[int]
    BUDGET_PER_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_COUNTERPARTIES_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_WINDOW_END_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDS_FIELD_NUMBER: _ClassVar[int]
    agent: str
    valid_from_ms: int
    valid_until_ms: int
    currency: str
    max_per_deal: int
    min_per_deal: int
    budget_per_period: int
    period_ms: int
    max_outstanding: int
    allowed_categories: _containers.RepeatedScalarFieldContainer[str]
    allowed_counterparties: _containers.RepeatedScalarFieldContainer[str]
    execution_window_end_ms: int
    succeeds: str
    def __init__(self, agent: _Optional[str] = ..., valid_from_ms: _Optional[int] = ..., valid_until_ms: _Optional[int] = ..., currency: _Optional[str] = ..., max_per_deal: _Optional[int] = ..., min_per_deal: _Optional[int] = ..., budget_per_period: _Optional[int] = ..., period_ms: _Optional[int] = ..., max_outstanding: _Optional[int] = ..., allowed_categories: _Optional[_Iterable[str]] = ..., allowed_counterparties: _Optional[_Iterable[str]] = ..., execution_window_end_ms: _Optional[int] = ..., succeeds: _Optional[str] = ...) -> None: ...

class KeyRotation(_message.Message):
    __slots__ = ("new_key",)
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    new_key: str
    def __init__(self, new_key: _Optional[str] = ...) -> None: ...

class KeyRevocation(_message.Message):
    __slots__ = ("key", "effective_ms", "reason", "chain_length")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHAIN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    key: str
    effective_ms: int
    reason: str
    chain_length: int
    def __init__(self, key: _Optional[str] = ..., effective_ms: _Optional[int] = ..., reason: _Optional[str] = ..., chain_length: _Optional[int] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("log_root",)
    LOG_ROOT_FIELD_NUMBER: _ClassVar[int]
    log_root: bytes
    def __init__(self, log_root: _Optional[bytes] = ...) -> None: ...
