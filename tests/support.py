"""Helpers shared by tests."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from flywheel_pipeline.insights._common import to_utc_naive
from flywheel_pipeline.settings import Settings, load_settings
from flywheel_pipeline.tables import Table


def demo_settings(home: Path, scale: float = 0.15, days: int = 120) -> Settings:
    return load_settings(
        flywheel_home=home,
        flywheel_source="demo",
        flywheel_demo_scale=scale,
        flywheel_demo_days=days,
    )


def service_account_file(path: Path, token_uri: str) -> dict[str, str]:
    """A real service-account key file (a fresh RSA key) whose token requests go to `token_uri`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "flywheel-test",
        "private_key_id": "feedc0ffee1234567890",
        "private_key": pem,
        "client_email": "extractor@flywheel-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return info


def key_secrets(key_file: Path, info: dict[str, str]) -> list[str]:
    """What must never show in logs, metadata or reports: the key file's path and name, its
    account, its key id and a line of its private key."""
    return [
        str(key_file),
        key_file.name,
        info["client_email"],
        info["private_key_id"],
        info["private_key"].splitlines()[1],
    ]


def warehouse_of(frames: dict[Table, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse holding each frame as its table (timestamps as naive UTC, the
    warehouse's convention)."""
    conn = duckdb.connect()
    for table, frame in frames.items():
        frame = frame.copy()
        for column in frame.select_dtypes("datetimetz"):
            frame[column] = to_utc_naive(frame[column])
        conn.execute(f"create schema if not exists {table.schema}")
        conn.register("frame", frame)
        conn.execute(f"create table {table.quoted} as from frame")
        conn.unregister("frame")
    return conn
