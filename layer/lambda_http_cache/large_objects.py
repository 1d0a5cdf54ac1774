"""Optional S3 storage for bodies too large for a DynamoDB item, even compressed.

Off unless a bucket is configured. The item keeps every attribute but the body, plus
``body_location`` (``s3://bucket/key``); the object holds the stored body bytes (compressed
when the item says so). A hit then costs one GetItem and one GetObject; a miss adds one
PutObject. Object keys are ``<prefix><namespace>/<sha256 of the table key>``: they carry no
URL or credential, and each namespace has its own prefix, which the CDK construct grants.
A reader follows only the location its own configuration gives for the key it read, never
whatever an item says, and reads at most the size limit.
The bucket's lifecycle rule (set by the CDK construct) removes old objects; the library never
serves one whose item has expired.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_LARGE_OBJECT_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


class LargeObjectStore:
    def __init__(
        self, client: S3Client, bucket: str, prefix: str = DEFAULT_LARGE_OBJECT_PREFIX
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def location(self, namespace: str, table_key: str) -> str:
        digest = hashlib.sha256(table_key.encode()).hexdigest()
        return f"s3://{self.bucket}/{self.prefix}{namespace}/{digest}"

    def put(self, location: str, body: bytes) -> str:
        """Store ``body`` at ``location``; returns the location."""
        bucket, key = split_location(location)
        self.client.put_object(Bucket=bucket, Key=key, Body=body)
        return location

    def get(self, location: str, max_bytes: int) -> bytes:
        """The object at ``location``; raises ValueError if it is over ``max_bytes``."""
        bucket, key = split_location(location)
        answer = self.client.get_object(Bucket=bucket, Key=key)
        body = answer["Body"]
        try:
            data = bytes(body.read(max_bytes + 1))
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ValueError(f"the object at {location} is over {max_bytes} bytes")
        return data


def split_location(location: str) -> tuple[str, str]:
    if not location.startswith("s3://") or "/" not in location[5:]:
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, key = location[5:].partition("/")
    return bucket, key
