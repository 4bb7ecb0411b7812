"""Progress of a group's re-evaluation: partition `group:<id>`, row `job` (the latest job)
and rows `b|<job id>|<bucket>` as each batch finishes."""

from __future__ import annotations

from datetime import datetime

from shared.store.port import Entity, TableStore

BUCKETS = 256


class JobRepository:
    def __init__(self, store: TableStore):
        self.table = store.table("jobs")

    def start(self, group_id: str, job_id: str, cause: str, at: datetime) -> None:
        self.table.upsert(Entity(f"group:{group_id}", "job", {"job_id": job_id, "cause": cause, "started_at": at}))

    def finish_bucket(self, group_id: str, job_id: str, bucket: str, persons: int, at: datetime) -> None:
        self.table.upsert(Entity(f"group:{group_id}", f"b|{job_id}|{bucket}", {"persons": persons, "at": at}))

    def progress(self, group_id: str) -> dict | None:
        job = self.table.get(f"group:{group_id}", "job")
        if job is None:
            return None
        job_id = job.properties["job_id"]
        done = list(self.table.query(f"group:{group_id}", prefix=f"b|{job_id}|"))
        return {
            "job_id": job_id,
            "cause": job.properties["cause"],
            "started_at": job.properties["started_at"],
            "batches_done": len(done),
            "batches_total": BUCKETS,
            "persons_done": sum(e.properties["persons"] for e in done),
            "finished_at": max((e.properties["at"] for e in done), default=None) if len(done) == BUCKETS else None,
        }
