"""The /api/1.0/collections routes (package-collections): collections and their records."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from processmaker_prefect.sandbox.listing import (
    ListQuery,
    ListResponse,
    api_endpoint,
    json_body,
    list_page,
    not_found,
)
from processmaker_prefect.sandbox.listing import validation_error as _invalid
from processmaker_prefect.sandbox.serializers import collection_json, record_json
from processmaker_prefect.sandbox.store import Row, Store

__all__ = ["collection_routes"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.sandbox.store
    return store


def _collection(store: Store, request: Request) -> Row:
    row = store.get("collections", request.path_params["collection_id"])
    if row is None:
        raise not_found()
    return row


def _record(store: Store, request: Request) -> Row:
    collection = _collection(store, request)
    row = store.get("records", request.path_params["record_id"])
    if row is None or row["collection_id"] != collection["id"]:
        raise not_found()
    return row


def _reload(store: Store, record_id: int) -> Row:
    row = store.get("records", record_id)
    if row is None:  # deleted by a concurrent client between write and read
        raise not_found()
    return row


def _data(request: Request) -> dict[str, Any]:
    data = json_body(request.state.body).get("data")
    if not isinstance(data, dict):
        raise _invalid("data", "The data field is required.")
    return data


@api_endpoint
def list_collections(request: Request, user_id: int) -> Response:
    """GET /api/1.0/collections"""
    rows, wrap = list_page(request, _store(request), ListQuery.parse(request, "collections"))
    return ListResponse(wrap([collection_json(r) for r in rows]))


@api_endpoint
def show_collection(request: Request, user_id: int) -> Response:
    """GET /api/1.0/collections/{collection_id}"""
    return JSONResponse(collection_json(_collection(_store(request), request)))


@api_endpoint
def list_records(request: Request, user_id: int) -> Response:
    """GET /api/1.0/collections/{collection_id}/records"""
    store = _store(request)
    collection = _collection(store, request)
    query = ListQuery.parse(request, "records")
    rows, wrap = list_page(request, store, query, ["records.collection_id = ?"], [collection["id"]])
    return ListResponse(wrap([record_json(r) for r in rows]))


@api_endpoint
def create_record(request: Request, user_id: int) -> Response:
    """POST /api/1.0/collections/{collection_id}/records"""
    store = _store(request)
    collection = _collection(store, request)
    record_id = store.add_record(collection["id"], _data(request))
    return JSONResponse(record_json(_reload(store, record_id)), status_code=201)


@api_endpoint
def show_record(request: Request, user_id: int) -> Response:
    """GET /api/1.0/collections/{collection_id}/records/{record_id}"""
    return JSONResponse(record_json(_record(_store(request), request)))


@api_endpoint
def replace_record(request: Request, user_id: int) -> Response:
    """PUT /api/1.0/collections/{collection_id}/records/{record_id}: replace data, 204."""
    store = _store(request)
    record = _record(store, request)
    store.write_record(record["id"], _data(request), merge=False)
    return Response(status_code=204)


@api_endpoint
def patch_record(request: Request, user_id: int) -> Response:
    """PATCH /api/1.0/collections/{collection_id}/records/{record_id}: merge data, 200."""
    store = _store(request)
    record = _record(store, request)
    store.write_record(record["id"], _data(request), merge=True)
    return JSONResponse(record_json(_reload(store, record["id"])))


@api_endpoint
def delete_record(request: Request, user_id: int) -> Response:
    """DELETE /api/1.0/collections/{collection_id}/records/{record_id}: 204."""
    store = _store(request)
    store.delete_record(_record(store, request)["id"])
    return Response(status_code=204)


def collection_routes(prefix: str) -> list[Route]:
    """Routes of collections and records under ``prefix`` (``/api/1.0``)."""
    base = f"{prefix}/collections/{{collection_id:int}}"
    record = f"{base}/records/{{record_id:int}}"
    return [
        Route(f"{prefix}/collections", list_collections, methods=["GET"]),
        Route(base, show_collection, methods=["GET"]),
        Route(f"{base}/records", list_records, methods=["GET"]),
        Route(f"{base}/records", create_record, methods=["POST"]),
        Route(record, show_record, methods=["GET"]),
        Route(record, replace_record, methods=["PUT"]),
        Route(record, patch_record, methods=["PATCH"]),
        Route(record, delete_record, methods=["DELETE"]),
    ]
