"""A real S3 API for tests: moto's server (``python -m moto.server``) on a free 127.0.0.1 port.

The review server talks to it over HTTP exactly as it would to MinIO or AWS (boto3, the endpoint
from ``--s3-endpoint-url``, credentials from the ``AWS_*`` environment); clients upload to it with
the presigned POSTs the review server hands out. moto accepts any credentials, so the fixed ones
in :data:`CREDENTIALS` are only there because boto3 refuses to sign without some.

Each review server gets its own prefix in the one bucket (``s3://BUCKET/<prefix>``), so servers
sharing a moto process never see each other's objects.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "visual-review-test"
#: moto's S3 app served by uvicorn instead of ``python -m moto.server``'s Werkzeug dev server,
#: which answers every request with ``Connection: close``: each request then opens a new TCP
#: connection, which S3, MinIO and every production store do not make clients do (that connect
#: and close was a third of a diff's S3 overhead in the benchmark: a cost of the stand-in, not
#: of the review server). uvicorn keeps connections alive, as they are.
_MOTO_KEEP_ALIVE = """
import sys, uvicorn
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
uvicorn.run(app, host=sys.argv[1], port=int(sys.argv[2]), interface="wsgi", log_level="warning")
"""
_prefixes = itertools.count(1)


@dataclass
class MotoS3:
    """A running moto server with one bucket, and helpers to look inside it."""

    endpoint: str
    process: subprocess.Popen[bytes]
    bucket: str = BUCKET
    _client: Any = field(default=None, repr=False)

    @classmethod
    def start(cls, log_dir: Path, timeout: float = 30.0) -> MotoS3:
        from .live_server import free_port

        port = free_port()
        log = open(log_dir / f"moto-{port}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_KEEP_ALIVE, "127.0.0.1", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS},
        )
        log.close()
        moto = cls(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            try:
                requests.get(moto.endpoint, timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    moto.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        moto.client.create_bucket(Bucket=moto.bucket)
        return moto

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(s3={"addressing_style": "path"}),
            )
        return self._client

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def new_prefix(self) -> str:
        return f"server-{os.getpid()}-{next(_prefixes)}"

    def server_args(self, prefix: str) -> tuple[str, ...]:
        """``visualreview serve`` arguments for a server keeping its blobs under ``prefix``."""
        return ("--blob-url", f"s3://{self.bucket}/{prefix}", "--s3-endpoint-url", self.endpoint)

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix + "/"
        ):
            found.extend(obj["Key"] for obj in page.get("Contents", []))
        return found

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
