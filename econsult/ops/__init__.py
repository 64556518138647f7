"""Operations: migrations and the catalogue, key rotation, integrity (verify, gc),
backup and restore, simulation."""
