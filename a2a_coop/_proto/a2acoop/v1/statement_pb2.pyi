from a2a_coop._proto.a2acoop.v1 import commitment_pb2 as _commitment_pb2
from a2a_coop._proto.a2acoop.v1 import identity_pb2 as _identity_pb2
from a2a_coop._proto.a2acoop.v1 import reputation_pb2 as _reputation_pb2
from a2a_coop._proto.a2acoop.v1 import trade_pb2 as _trade_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Statement(_message.Message):
    __slots__ = ("header", "mandate", "key_rotation", "key_revocation", "checkpoint", "offer", "counter", "accept", "reject", "withdraw", "bond_lock", "delivery", "receipt", "breach_claim", "revoke", "release", "forfeit", "refund", "reveal", "ruling", "attestation", "ack", "deposit", "stamp")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    KEY_ROTATION_FIELD_NUMBER: _ClassVar[int]
    KEY_REVOCATION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_FIELD_NUMBER: _ClassVar[int]
    BOND_LOCK_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    BREACH_CLAIM_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    FORFEIT_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    REVEAL_FIELD_NUMBER: _ClassVar[int]
    RULING_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    STAMP_FIELD_NUMBER: _ClassVar[int]
    header: Header
    mandate: _identity_pb2.Mandate
    key_rotation: _identity_pb2.KeyRotation
    key_revocation: _identity_pb2.KeyRevocation
    checkpoint: _identity_pb2.Checkpoint
    offer: _trade_pb2.Offer
    counter: _trade_pb2.Counter
    accept: _trade_pb2.Accept
    reject: _trade_pb2.Reject
    withdraw: _trade_pb2.Withdraw
    bond_lock: _commitment_pb2.BondLock
    delivery: _commitment_pb2.Delivery
    receipt: _commitment_pb2.Receipt
    breach_claim: _commitment_pb2.BreachClaim
    revoke: _commitment_pb2.Revoke
    release: _commitment_pb2.Release
    forfeit: _commitment_pb2.Forfeit
    refund: _commitment_pb2.Refund
    reveal: _commitment_pb2.Reveal
    ruling: _commitment_pb2.Ruling
    attestation: _reputation_pb2.Attestation
    ack: _commitment_pb2.Ack
    deposit: _commitment_pb2.Deposit
    stamp: _commitment_pb2.Stamp
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., mandate: _Optional[_Union[_identity_pb2.Mandate, _Mapping]] = ..., key_rotation: _Optional[_Union[_identity_pb2.KeyRotation, _Mapping]] = ..., key_revocation: _Optional[_Union[_identity_pb2.KeyRevocation, _Mapping]] = ..., checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ..., offer: _Optional[_Union[_trade_pb2.Offer, _Mapping]] = ..., counter: _Optional[_Union[_trade_pb2.Counter, _Mapping]] = ..., accept: _Optional[_Union[_trade_pb2.Accept, _Mapping]] = ..., reject: _Optional[_Union[_trade_pb2.Reject, _Mapping]] = ..., withdraw: _Optional[_Union[_trade_pb2.Withdraw, _Mapping]] = ..., bond_lock: _Optional[_Union[_commitment_pb2.BondLock, _Mapping]] = ..., delivery: _Optional[_Union[_commitment_pb2.Delivery, _Mapping]] = ..., receipt: _Optional[_Union[_commitment_pb2.Receipt, _Mapping]] = ..., breach_claim: _Optional[_Union[_commitment_pb2.BreachClaim, _Mapping]] = ..., revoke: _Optional[_Union[_commitment_pb2.Revoke, _Mapping]] = ..., release: _Optional[_Union[_commitment_pb2.Release, _Mapping]] = ..., forfeit: _Optional[_Union[_commitment_pb2.Forfeit, _Mapping]] = ..., refund: _Optional[_Union[_commitment_pb2.Refund, _Mapping]] = ..., reveal: _Optional[_Union[_commitment_pb2.Reveal, _Mapping]] = ..., ruling: _Optional[_Union[_commitment_pb2.Ruling, _Mapping]] = ..., attestation: _Optional[_Union[_reputation_pb2.Attestation, _Mapping]] = ..., ack: _Optional[_Union[_commitment_pb2.Ack, _Mapping]] = ..., deposit: _Optional[_Union[_commitment_pb2.Deposit, _Mapping]] = ..., stamp: _Optional[_Union[_commitment_pb2.Stamp, _Mapping]] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("version", "issuer", "audience", "seq", "prev", "issued_at_ms", "not_before_ms", "expires_at_ms", "nonce", "negotiation_id", "refs", "mandate")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    NEGOTIATION_ID_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    MANDATE_FIELD_NUMBER: _ClassVar[int]
    version: int
    issuer: str
    audience: str
    seq: int
    prev: bytes
    issued_at_ms: int
    not_before_ms: int
    expires_at_ms: int
    nonce: bytes
    negotiation_id: bytes
    refs: _containers.RepeatedScalarFieldContainer[bytes]
    mandate: bytes
    def __init__(self, version: _Optional[int] = ..., issuer: _Optional[str] = ..., audience: _Optional[str] = ..., seq: _Optional[int] = ..., prev: _Optional[bytes] = ..., issued_at_ms: _Optional[int] = ..., not_before_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., nonce: _Optional[bytes] = ..., negotiation_id: _Optional[bytes] = ..., refs: _Optional[_Iterable[bytes]] = ..., mandate: _Optional[bytes] = ...) -> None: ...
