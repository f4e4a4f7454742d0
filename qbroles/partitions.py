"""Partitions and regions as botocore knows them: its bundled endpoint data, no network.

Every partition botocore ships (aws, aws-cn, aws-us-gov, aws-iso*, aws-eusc, ...) works,
and a region botocore has not heard of is still accepted when it matches a partition's
region pattern, as botocore itself resolves it. botocore is imported only when asked.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# A partition in an ARN: aws, aws-cn, aws-us-gov, aws-iso-b, aws-eusc, ...
PARTITION = r"aws(?:-[a-z]+)*"


@lru_cache(maxsize=1)
def data_loader() -> Any:
    """Return botocore's data loader for the run: connect() gives it to the session too, so
    the bundled endpoint data (about 15 ms to parse) is read once, not once more per client."""
    import botocore.session

    return botocore.session.get_session().get_component("data_loader")


@lru_cache(maxsize=1)
def _partitions() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    data: Any = data_loader().load_data("endpoints")
    return tuple(
        (
            str(partition["partition"]),
            re.compile(str(partition.get("regionRegex", "$^"))),
            frozenset(partition.get("regions", {})),
        )
        for partition in data["partitions"]
    )


def partition_of(region: str) -> str | None:
    """Return the partition of a region: one botocore lists, else one whose pattern matches."""
    for name, _, regions in _partitions():
        if region in regions:
            return name
    for name, pattern, _ in _partitions():
        if pattern.match(region):
            return name
    return None


# The fields of an ARN, in order: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE ("Amazon
# Resource Names (ARNs)", ARN format: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).
_ARN_FIELDS = ("partition", "service", "region", "account")


def arn_field(arn: str, field: str) -> str | None:
    """Return a field of an ARN (partition, service, region or account), or None where the
    text is no ARN or leaves that field empty (IAM and S3 ARNs have no region)."""
    parts = arn.split(":", 5)
    index = _ARN_FIELDS.index(field) + 1
    if parts[0] != "arn" or len(parts) <= index:
        return None
    return parts[index] or None
