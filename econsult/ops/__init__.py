"""Operations: key rotation, integrity, backup and restore, simulation."""
