"""The reference answer to naming_stub.py."""


def database_name(prefix: str, worker_id: str) -> str:
    return f"{prefix}_{worker_id}_test"
