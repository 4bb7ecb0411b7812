"""The SCIM doors through devhost over real HTTP: an Entra-shaped bulk upload of 50 new
workers and its replay, SCIM POST /Users, a SCIM `userName eq` filter (indexed) and a `co`
filter (a scan of the registry)."""

from __future__ import annotations

from bench.common import median_ms, progress, roster_over_http, show, timed

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
UPLOAD = "/api/servicePrincipals/hr/synchronization/jobs/bench/bulkUpload"
SCIM_JSON = {"Content-Type": "application/scim+json"}


def worker(n: int) -> dict:
    return {"schemas": [CORE, ENTERPRISE], "externalId": f"W{n:06d}", "userName": f"w{n}@bench.example",
            "name": {"givenName": f"Given{n}", "familyName": f"Family{n}"}, "active": True,
            "emails": [{"value": f"w{n}@bench.example", "type": "work", "primary": True}],
            ENTERPRISE: {"department": f"D{n % 20}", "employeeNumber": f"W{n:06d}"}}


def batch(first: int) -> dict:
    return {"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": str(n), "data": worker(n)} for n in range(first, first + 50)]}


def run(uploads: int = 8, creates: int = 100, searches: int = 20) -> dict:
    fresh, replay, posts, finds, scans = [], [], [], [], []
    with roster_over_http(["Persons.Write", "Persons.Read"]) as client:
        with progress(f"{uploads} bulk uploads of 50, and their replays", uploads) as step:
            for u in range(uploads):
                body = batch(u * 50)
                fresh.append(timed(lambda: client.post(UPLOAD, json=body, headers=SCIM_JSON).raise_for_status()))
                replay.append(timed(lambda: client.post(UPLOAD, json=body, headers=SCIM_JSON).raise_for_status()))
                step()
        with progress(f"{creates} SCIM POST /Users", creates) as step:
            for n in range(creates):
                user = {"schemas": [CORE], "userName": f"s{n}@bench.example",
                        "name": {"givenName": "S", "familyName": f"User{n}"}}
                posts.append(timed(lambda: client.post("/api/scim/v2/Users", json=user,
                                                       headers=SCIM_JSON).raise_for_status()))
                step()
        registry = uploads * 50 + creates
        with progress(f"{searches} SCIM filters over {registry} persons", searches) as step:
            for n in range(searches):
                params = {"filter": f'userName eq "s{n}@bench.example"'}
                finds.append(timed(lambda: client.get("/api/scim/v2/Users", params=params).raise_for_status()))
                scan = {"filter": f'name.familyName co "User{n}"'}
                scans.append(timed(lambda: client.get("/api/scim/v2/Users", params=scan).raise_for_status()))
                step()
    figures = {
        "bulk_upload_50_new_ms": median_ms(fresh),
        "bulk_upload_50_replay_ms": median_ms(replay),
        "scim_post_user_ms": median_ms(posts),
        "scim_filter_eq_ms": median_ms(finds),
        "scim_filter_co_ms": median_ms(scans),
        "scim_filter_registry": registry,
    }
    show("SCIM doors through devhost", [
        ("bulkUpload, 50 new workers (sync chain), median per call", f"{figures['bulk_upload_50_new_ms']:.1f} ms"),
        ("bulkUpload replay (all unchanged), median per call", f"{figures['bulk_upload_50_replay_ms']:.1f} ms"),
        ("SCIM POST /Users, median", f"{figures['scim_post_user_ms']:.2f} ms"),
        (f"SCIM GET /Users?filter=userName eq … over {registry} persons, median",
         f"{figures['scim_filter_eq_ms']:.1f} ms"),
        (f"SCIM GET /Users?filter=name.familyName co … (a scan) over {registry} persons, median",
         f"{figures['scim_filter_co_ms']:.1f} ms"),
    ])
    return figures


if __name__ == "__main__":
    run()
