"""The routes of OpenAI's Files and fine-tuning APIs on `inoculate serve`: /v1/files and
/v1/fine_tuning/jobs (create, list, retrieve, events, cancel), in OpenAI's shapes.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run time.
"""

import asyncio
from typing import Literal

from inoculate.serve.api_error import ApiError
from inoculate.serve.files import MAX_UPLOAD_BYTES, FileStore
from inoculate.serve.jobs import JobRequest, JobStore, check_request, page, resolve
from inoculate.serve.worker import JobWorker
from inoculate.training import TrainConfig


def add_fine_tuning_routes(app, files: FileStore, jobs: JobStore, worker: JobWorker, served_name: str,
                           train: TrainConfig, busy: str | None = None) -> None:
    """Register the Files and fine-tuning routes on `app`; file and record writes run off the event
    loop. With `busy` (why this server runs no fine-tuning), every one of them answers a 400 saying so."""
    from fastapi import Request
    from fastapi.responses import Response

    if busy is not None:
        @app.api_route("/v1/files{rest:path}", methods=["GET", "POST", "DELETE"])
        @app.api_route("/v1/fine_tuning{rest:path}", methods=["GET", "POST", "DELETE"])
        async def refused(rest: str):
            raise ApiError(400, busy)
        return

    async def off_loop(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @app.post("/v1/files")
    async def upload_file(request: Request):
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"the file is larger than {MAX_UPLOAD_BYTES // 1024**2} MB", "file")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(400, "expected a multipart/form-data body with the fields file and purpose")
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)  # python-multipart, through Starlette
        upload, purpose = form.get("file"), form.get("purpose")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "no file: send it as the multipart field 'file'", "file")
        if not isinstance(purpose, str):
            raise ApiError(400, "missing the field 'purpose' (use 'fine-tune')", "purpose")
        return await off_loop(files.add, upload.filename or "upload.jsonl", await upload.read(), purpose)

    @app.get("/v1/files")
    async def list_files(after: str | None = None, limit: int = 10000, order: Literal["asc", "desc"] = "desc",
                         purpose: str | None = None):
        return page(files.listed(purpose, order), after, limit, max_limit=10000)

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str):
        return files.get(file_id)

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str):
        files.get(file_id)
        data = await off_loop(files.data_path(file_id).read_bytes)
        return Response(data, media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str):
        return await off_loop(files.delete, file_id)

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: JobRequest):
        check_request(request, served_name, files)
        config, hyperparameters = resolve(request, train)
        job = await off_loop(jobs.create, request, served_name, config, hyperparameters)
        worker.submit(job["id"])
        return job

    @app.get("/v1/fine_tuning/jobs")
    async def list_jobs(request: Request, after: str | None = None, limit: int = 20):
        return page([job for job in jobs.listed() if _metadata_matches(job, request.query_params)], after, limit)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    async def retrieve_job(job_id: str):
        return jobs.get(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    async def job_events(job_id: str, after: str | None = None, limit: int = 20):
        return page(jobs.events(job_id), after, limit)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    async def cancel_job(job_id: str):
        return await off_loop(jobs.cancel, job_id)


def _metadata_matches(job: dict, query) -> bool:
    """OpenAI's metadata filter on the job list: `metadata[k]=v` keeps jobs whose metadata has k = v
    (every such pair must hold); `metadata=null` keeps jobs created without metadata."""
    if query.get("metadata") == "null":
        return job["metadata"] is None
    wanted = {key[len("metadata["):-1]: value for key, value in query.items()
              if key.startswith("metadata[") and key.endswith("]")}
    return all((job["metadata"] or {}).get(key) == value for key, value in wanted.items())
