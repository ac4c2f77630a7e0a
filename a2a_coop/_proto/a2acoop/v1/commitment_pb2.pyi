from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RulingDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULING_DECISION_UNSPECIFIED: _ClassVar[RulingDecision]
    RULING_DECISION_UPHOLD: _ClassVar[RulingDecision]
    RULING_DECISION_DISMISS: _ClassVar[RulingDecision]
    RULING_DECISION_LAPSE: _ClassVar[RulingDecision]
RULING_DECISION_UNSPECIFIED: RulingDecision
RULING_DECISION_UPHOLD: RulingDecision
RULING_DECISION_DISMISS: RulingDecision
RULING_DECISION_LAPSE: RulingDecision

class BondLock(_message.Message):
    __slots__ = ("contract", "party", "amount")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    party: str
    amount: int
    def __init__(self, contract: _Optional[bytes] = ..., party: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("contract", "item_index", "artifact_digest", "uri")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    item_index: int
    artifact_digest: bytes
    uri: str
    def __init__(self, contract: _Optional[bytes] = ..., item_index: _Optional[int] = ..., artifact_digest: _Optional[bytes] = ..., uri: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("delivery", "rating")
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    delivery: bytes
    rating: int
    def __init__(self, delivery: _Optional[bytes] = ..., rating: _Optional[int] = ...) -> None: ...

class BreachClaim(_message.Message):
    __slots__ = ("contract", "item_index", "evidence", "reason")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    item_index: int
    evidence: _containers.RepeatedScalarFieldContainer[bytes]
    reason: str
    def __init__(self, contract: _Optional[bytes] = ..., item_index: _Optional[int] = ..., evidence: _Optional[_Iterable[bytes]] = ..., reason: _Optional[str] = ...) -> None: ...

class Revoke(_message.Message):
    __slots__ = ("contract", "reason")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    reason: str
    def __init__(self, contract: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class Release(_message.Message):
    __slots__ = ("contract", "party", "amount")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    party: str
    amount: int
    def __init__(self, contract: _Optional[bytes] = ..., party: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Forfeit(_message.Message):
    __slots__ = ("contract", "party", "amount", "beneficiary", "cause")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    party: str
    amount: int
    beneficiary: str
    cause: bytes
    def __init__(self, contract: _Optional[bytes] = ..., party: _Optional[str] = ..., amount: _Optional[int] = ..., beneficiary: _Optional[str] = ..., cause: _Optional[bytes] = ...) -> None: ...

class Ruling(_message.Message):
    __slots__ = ("contract", "claim", "decision", "evidence")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    claim: bytes
    decision: RulingDecision
    evidence: bytes
    def __init__(self, contract: _Optional[bytes] = ..., claim: _Optional[bytes] = ..., decision: _Optional[_Union[RulingDecision, str]] = ..., evidence: _Optional[bytes] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("contract", "party", "amount")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    contract: bytes
    party: str
    amount: int
    def __init__(self, contract: _Optional[bytes] = ..., party: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Reveal(_message.Message):
    __slots__ = ("statement", "claim_index", "salt", "amount")
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    CLAIM_INDEX_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    statement: bytes
    claim_index: int
    salt: bytes
    amount: int
    def __init__(self, statement: _Optional[bytes] = ..., claim_index: _Optional[int] = ..., salt: _Optional[bytes] = ..., amount: _Optional[int] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: bytes
    def __init__(self, statement: _Optional[bytes] = ...) -> None: ...

class Stamp(_message.Message):
    __slots__ = ("statements",)
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, statements: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Deposit(_message.Message):
    __slots__ = ("party", "amount", "currency", "reference")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    party: str
    amount: int
    currency: str
    reference: str
    def __init__(self, party: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...
