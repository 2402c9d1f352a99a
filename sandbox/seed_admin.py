"""Seed data of the administrative tables: categories, screens, scripts, environment variables,
group members, task assignments, and the comments and files of requests.

Small and deterministic like ``sandbox.seed``: comments and files scale with the data (a comment
per 7 requests and per 13 tasks, a file per 11 requests), the rest is a fixed catalogue. Column
sets follow PM's migrations (API-NOTES §6 sources); JSON columns hold JSON text.
"""

from __future__ import annotations

import json
import sqlite3

__all__ = ["ADMIN_SCHEMA", "ADMIN_TABLES", "seed_admin_tables"]

ADMIN_SCHEMA = """
CREATE TABLE process_categories (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, is_system INTEGER NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE screens (
    id INTEGER PRIMARY KEY, screen_category_id INTEGER NOT NULL, title TEXT NOT NULL,
    description TEXT NOT NULL, type TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE scripts (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL,
    language TEXT NOT NULL, code TEXT NOT NULL, timeout INTEGER NOT NULL,
    run_as_user_id INTEGER NOT NULL, script_category_id INTEGER NOT NULL, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE environment_variables (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, value TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE group_members (
    id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, member_id INTEGER NOT NULL,
    member_type TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE task_assignments (
    id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL, process_task_id TEXT NOT NULL,
    assignment_id INTEGER NOT NULL, assignment_type TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY, user_id INTEGER, commentable_id INTEGER NOT NULL,
    commentable_type TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
    hidden INTEGER NOT NULL, type TEXT NOT NULL, case_number INTEGER,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE media (
    id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL, model_type TEXT NOT NULL,
    name TEXT NOT NULL, file_name TEXT NOT NULL, mime_type TEXT NOT NULL, size INTEGER NOT NULL,
    custom_properties TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
"""

ADMIN_TABLES = ("process_categories", "screens", "scripts", "environment_variables",
                "group_members", "task_assignments", "comments", "media")  # fmt: skip

ADMIN_INDEXES = """
CREATE INDEX comments_commentable ON comments (commentable_type, commentable_id);
CREATE INDEX media_model ON media (model_type, model_id);
"""

REQUEST = "ProcessMaker\\Models\\ProcessRequest"
TASK = "ProcessMaker\\Models\\ProcessRequestToken"
USER = "ProcessMaker\\Models\\User"
GROUP = "ProcessMaker\\Models\\Group"

_CATEGORIES = ["Uncategorized", "Finance", "Human Resources"]
_VARIABLES = [
    ("API_BASE_URL", "Base URL of the ERP", "https://erp.example.com/api"),
    ("SMTP_HOST", "Outgoing mail relay", "smtp.example.com"),
    ("ERP_API_TOKEN", "Token for the ERP integration", "erp-token-not-a-real-secret"),
]


def seed_admin_tables(
    db: sqlite3.Connection, epoch: int, users: int, processes: list[tuple[str, str]]
) -> None:
    """Fill the administrative tables; run after users, groups, processes and requests exist."""
    t = epoch - 86400 * 15  # before every request, like the processes themselves
    db.executemany(
        "INSERT INTO process_categories VALUES (?,?,?,0,?,?)",
        [(i, name, "ACTIVE", t + i, t + i) for i, name in enumerate(_CATEGORIES, 1)],
    )
    db.executemany(
        "INSERT INTO screens VALUES (?,?,?,?,?,?,'ACTIVE',?,?)",
        [
            (i, 1 + i % 3, f"{name} form", f"Form of the {name.lower()} process",
             "FORM" if i % 4 else "DISPLAY", json.dumps([{"name": f"{name} form", "items": []}]),
             t + 100 + i, t + 100 + i)
            for i, (name, _) in enumerate(processes, 1)
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO scripts VALUES (?,?,?,?,?,60,1,1,'ACTIVE',?,?)",
        [
            (i, f"Script {i}", f"Helper script {i}", language, code, t + 200 + i, t + 200 + i)
            for i, (language, code) in enumerate(
                [("php", "<?php return [];"), ("javascript", "return {};"),
                 ("python", "return {}")], 1)
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO environment_variables VALUES (?,?,?,?,?,?)",
        [(i, n, d, v, t + 300 + i, t + 300 + i) for i, (n, d, v) in enumerate(_VARIABLES, 1)],
    )
    db.executemany(
        "INSERT INTO group_members (group_id, member_id, member_type, created_at, updated_at) "
        "VALUES (?,?,?,?,?)",
        [(1 if u == 1 else 1 + u % 5, u, USER, t + 400 + u, t + 400 + u)
         for u in range(1, users + 1)],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO task_assignments VALUES (?,?,?,?,?,?,?)",
        [
            (i, i, f"node_{i + 1}", 1 + i % 5 if i % 3 else 1, GROUP if i % 3 else USER,
             t + 500 + i, t + 500 + i)
            for i in range(1, len(processes) + 1)
        ],
    )  # fmt: skip
    # A comment on every 7th request and every 13th task, a file on every 11th request.
    db.execute(
        "INSERT INTO comments (user_id, commentable_id, commentable_type, subject, body, hidden,"
        " type, case_number, created_at, updated_at) "
        "SELECT user_id, id, ?, 'Comment', 'Looks good to me (#' || id || ')', 0,"
        " CASE WHEN id % 2 THEN 'MESSAGE' ELSE 'LOG' END, id, created_at + 60, created_at + 60"
        " FROM requests WHERE id % 7 = 0",
        (REQUEST,),
    )
    db.execute(
        "INSERT INTO comments (user_id, commentable_id, commentable_type, subject, body, hidden,"
        " type, case_number, created_at, updated_at) "
        "SELECT user_id, id, ?, 'Task comment', 'Please check the amount', 0, 'MESSAGE',"
        " process_request_id, created_at + 120, created_at + 120 FROM tasks WHERE id % 13 = 0",
        (TASK,),
    )
    db.execute(
        "INSERT INTO media (model_id, model_type, name, file_name, mime_type, size,"
        " custom_properties, created_at, updated_at) "
        "SELECT id, ?, 'receipt-' || id, 'receipt-' || id || '.pdf', 'application/pdf',"
        " 1000 + id % 50000, json_object('data_name', 'receipt', 'parent', NULL,"
        " 'row_id', NULL, 'createdBy', user_id), created_at + 30, created_at + 30"
        " FROM requests WHERE id % 11 = 0",
        (REQUEST,),
    )
    db.executescript(ADMIN_INDEXES)
