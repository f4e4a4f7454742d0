"""moto's AWS managed policies parsed once a process, not on every backend it builds.

moto builds an IAM backend per partition whenever its state is reset (every in-process
mock_aws start, every moto-server reset), and each parses and re-encodes its 1.7 MB of
AWS managed policies: about a second a test. With this, the JSON is parsed once; the
policy objects are still made anew for each backend, so nothing a test does to one
(attachment counts) leaks into the next. It mirrors moto's AWSManagedPolicy.from_data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def parse_once() -> None:
    """Make moto's IAM backends build their AWS managed policies from one parse."""
    from moto.iam import models

    if getattr(models.IAMBackend, "parsed_once", False):
        return
    parsed = json.loads(models.aws_managed_policies_data)
    made = {
        name: (
            data.get("DefaultVersionId"),
            data.get("Path"),
            json.dumps(data.get("Document")),
            datetime.fromisoformat(data["CreateDate"]),
            datetime.fromisoformat(data["UpdateDate"]),
        )
        for name, data in parsed.items()
    }

    def init(backend: Any) -> list[Any]:
        if not models.load_iam_aws_managed_policies():
            return []
        return [
            models.AWSManagedPolicy(
                name,
                account_id=backend.account_id,
                region=backend.region_name,
                default_version_id=version,
                path=path,
                document=document,
                create_date=created,
                update_date=updated,
            )
            for name, (version, path, document, created, updated) in made.items()
        ]

    models.IAMBackend._init_aws_policies = init
    models.IAMBackend.parsed_once = True


def serve() -> None:
    """Run moto's server (its command-line arguments) with the policies parsed once."""
    from moto.server import main

    parse_once()
    main()


if __name__ == "__main__":
    serve()
