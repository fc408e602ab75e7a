"""Opaque keys: a row's primary key sealed with the installation's secret, for ids and cursors.

Primary keys are global sequences: shown as they are, two of a tenant's own ids would tell it
how many rows every other tenant made in between. A sealed key is the key and its kind in one
AES block (16 bytes, 22 characters of URL-safe base64): the same row always gives the same
text, nothing about the number shows, and since AES turns any other block into noise, a forged
or altered text fails the kind's check bytes (odds 2⁻⁶⁴) and opens as "no such key".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from functools import cache

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

MAX_KEY = 2**63 - 1  # a BIGINT
_BLOCK = 16
_SEALED_LENGTH = 22  # 16 bytes in unpadded base64


class _Sealer:
    def __init__(self, secret: bytes) -> None:
        cipher = Cipher(algorithms.AES(hashlib.sha256(b"jobtower keys\0" + secret).digest()), modes.ECB())
        # ECB on exactly one block per call: the contexts keep no state between calls, so one
        # pair serves every call (a page of cursors seals in microseconds).
        self.encrypt: CipherContext = cipher.encryptor()
        self.decrypt: CipherContext = cipher.decryptor()
        self.digest_key = hashlib.sha256(b"jobtower digests\0" + secret).digest()


@cache
def _sealer() -> _Sealer:
    from jobtower.settings import settings

    return _Sealer(settings.resolved_id_secret())


@cache
def _check_bytes(kind: str) -> bytes:
    return hashlib.sha256(f"jobtower key kind\0{kind}".encode()).digest()[:8]


def seal(kind: str, key: int) -> str:
    return _text(_sealer().encrypt.update(key.to_bytes(8, "big") + _check_bytes(kind)))


def _text(block: bytes) -> str:
    return base64.urlsafe_b64encode(block).decode().rstrip("=")


def digest(scope: str, text: str) -> str:
    """``text`` keyed to ``scope`` (64 hex digits): nobody without the secret can make the digest
    of a text, so no text a client sends equals one."""
    message = f"{scope}\0{text}".encode()
    return hmac.new(_sealer().digest_key, message, hashlib.sha256).hexdigest()


def unseal(text: object, kinds: Iterable[str]) -> tuple[str, int] | None:
    """The kind (one of ``kinds``) and key ``text`` seals; None for anything else."""
    if not isinstance(text, str) or len(text) != _SEALED_LENGTH:
        return None
    try:
        block = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError):
        return None
    # One spelling per id: the last character's unused bits would otherwise give each id others.
    if len(block) != _BLOCK or _text(block) != text:
        return None
    plain = _sealer().decrypt.update(block)
    key = int.from_bytes(plain[:8], "big")
    for kind in kinds:
        if plain[8:] == _check_bytes(kind):
            return (kind, key) if key <= MAX_KEY else None
    return None
