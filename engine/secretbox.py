"""Secrets at rest: channel secrets (notifications.db) and health-check credentials
(health/checks.json) are written encrypted (Fernet: AES-128-CBC with HMAC-SHA256), so a copied
database file or backup does not hand out Slack URLs, SMTP passwords or the passwords in check URLs.

The key comes from ``SECRETS_KEY`` (any text of at least 32 bytes, stretched with HKDF), or, when
that is unset, from ``DATA_DIR/secrets.key``, made on first use with mode 0600 (then a copy of the
data dir without that file reveals nothing; a copy with it reveals everything). Values written
before encryption existed are read as they are and rewritten encrypted when their store opens. A
stored value the key cannot decrypt stops start-up (``SecretsKeyError``): starting without it would
lose it on the next write.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from engine.tsdb.backend import StoreError

PREFIX = "enc:v1:"
KEY_FILE = "secrets.key"
_SALT = b"metrics-service secrets at rest"
_INFO = b"fernet v1"


class SecretsKeyError(StoreError):
    """The key cannot decrypt what is stored; the message names the store and what to do."""


class SecretBox:
    """Seals and opens text with the data dir's key; the key and ``cryptography`` are loaded on
    first use (a server without stored secrets never pays for them)."""

    def __init__(self, data_dir: Path | str, key: str | None = None) -> None:
        self.key_file = Path(data_dir) / KEY_FILE
        self.key = key
        self._fernet: Any = None

    @property
    def source(self) -> str:
        return "SECRETS_KEY" if self.key is not None else f"the key file {self.key_file}"

    def _cipher(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            material = self.key.encode("utf-8") if self.key is not None else self._key_file_bytes()
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(material)
            self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        return self._fernet

    def _key_file_bytes(self) -> bytes:
        """The key file's bytes, the file made (0600, never replaced) when there is none."""
        try:
            return self.key_file.read_bytes().strip()
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another store of this server
            return self.key_file.read_bytes().strip()
        key = secrets.token_hex(32).encode()
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return key

    def seal(self, text: str) -> str:
        return PREFIX + self._cipher().encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, text: str, where: str) -> str:
        """The plain text of a sealed value (a value written before encryption is returned as it is).
        ``where`` names the value in the error when the key does not fit."""
        if not is_sealed(text):
            return text
        from cryptography.fernet import InvalidToken
        try:
            return self._cipher().decrypt(text[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretsKeyError(f"{where} cannot be decrypted with {self.source}: wrong key? Start with the key "
                                  "it was written with (SECRETS_KEY, or the data dir's secrets.key)") from exc


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)
