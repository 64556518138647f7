"""Field-level encryption for patient identifiers, clinical text and message bodies.

Each value is sealed with the keyring's active KEK and bound, through associated
data, to its table, column and row id: a ciphertext copied into another row or
column fails to open instead of showing one patient's data on another's record.
"""

from __future__ import annotations

from collections.abc import Iterable

from econsult.security.keyring import Keyring, token_kek_id


def _aad_prefix(table: str, column: str) -> str:
    return f"econsult-field\x00{table}\x00{column}\x00"


def _aad(table: str, column: str, row_id: object) -> bytes:
    return f"{_aad_prefix(table, column)}{row_id}".encode()


class FieldCipher:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, table: str, column: str, row_id: object, text: str) -> bytes:
        return self.keyring.seal(text.encode("utf-8"), _aad(table, column, row_id))

    def open(self, table: str, column: str, row_id: object, token: bytes) -> str:
        return self.keyring.open(token, _aad(table, column, row_id)).decode("utf-8")

    def open_many(self, table: str, column: str,
                  items: Iterable[tuple[object, bytes]]) -> list[str]:
        """`open` for (row id, token) pairs of one column, e.g. the names in a queue."""
        prefix = _aad_prefix(table, column)
        return [value.decode("utf-8") for value in self.keyring.open_many(
            (token, f"{prefix}{row_id}".encode()) for row_id, token in items)]

    def seal_optional(self, table: str, column: str, row_id: object,
                      text: str | None) -> bytes | None:
        return None if text is None else self.seal(table, column, row_id, text)

    def open_optional(self, table: str, column: str, row_id: object,
                      token: bytes | None) -> str | None:
        return None if token is None else self.open(table, column, row_id, token)

    def reseal(self, table: str, column: str, row_id: object, token: bytes) -> bytes:
        """Re-encrypt under the active KEK (key rotation); unchanged if already current."""
        if token_kek_id(token) == self.keyring.active_id:
            return token
        return self.seal(table, column, row_id, self.open(table, column, row_id, token))
