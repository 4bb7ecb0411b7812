"""The bulk upload's rate (`ROSTER_BULKUPLOAD_RATE`): above it, 429 with Retry-After, per source.
Its own module: devhost settings are process environment, so no other host may run alongside."""

from __future__ import annotations

from tests.scim import entra
from tests.scim.support import devhost, send

URL = "/api/servicePrincipals/{source}/synchronization/jobs/job-1/bulkUpload"


def upload(client, source: str, body):
    return send(client, "POST", URL.format(source=source), "hr-key", body)


def test_above_the_rate_the_caller_gets_429_with_retry_after(tmp_path):
    with devhost(tmp_path, ROSTER_BULKUPLOAD_RATE="2/3600") as (client, _):
        body = entra.bulk(entra.operation(entra.worker("1", "Rate", "Limited")))
        assert [upload(client, "ratefeed", body).status_code for _ in range(2)] == [202, 202]
        third = upload(client, "ratefeed", body)
        assert third.status_code == 429
        assert 1 <= int(third.headers["Retry-After"]) <= 3600
        assert upload(client, "otherfeed", body).status_code == 202
