"""Deterministic seed data: the schema and the SQL that fills it, generated inside SQLite.

Rows are produced by recursive CTEs with integer hashing, so a million requests never pass
through Python objects and the same ``seed`` always yields the same rows. Every timestamp is
derived from ``EPOCH`` (never from the clock), so all seeded rows predate any live write.
"""

from __future__ import annotations

import sqlite3

from processmaker_prefect.sandbox.seed_admin import ADMIN_SCHEMA, seed_admin_tables

__all__ = ["EPOCH", "SEED_END", "create_schema", "seed_database"]

# 2024-01-01T00:00:00+00:00; seeded rows spread over the following year.
EPOCH = 1_704_067_200
SPAN = 365 * 24 * 3600
SEED_END = EPOCH + 2 * SPAN  # an upper bound on every seeded timestamp
_DIGITS = 10_000

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL, firstname TEXT,
    lastname TEXT, status TEXT NOT NULL, is_administrator INTEGER NOT NULL, title TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE groups (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE processes (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
    user_id INTEGER NOT NULL, process_category_id INTEGER NOT NULL, start_event TEXT NOT NULL,
    task_element TEXT NOT NULL, task_name TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    status TEXT NOT NULL, name TEXT NOT NULL, case_title TEXT NOT NULL, data TEXT NOT NULL,
    initiated_at INTEGER, completed_at INTEGER,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY, process_request_id INTEGER NOT NULL, process_id INTEGER NOT NULL,
    user_id INTEGER, element_id TEXT NOT NULL, element_name TEXT NOT NULL, status TEXT NOT NULL,
    due_at INTEGER, completed_at INTEGER,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE collections (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE records (
    id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL, data TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
"""

# Built after the bulk insert: building an index once is much faster than maintaining it.
# Only the orders a client pages by (and the task->request join) are indexed; filters on
# status/user/process scan, which costs ~0.1 s per million rows.
INDEXES = """
CREATE INDEX requests_updated ON requests (updated_at, id);
CREATE INDEX requests_created ON requests (created_at, id);
CREATE INDEX requests_name ON requests (name, id);
CREATE INDEX tasks_updated ON tasks (updated_at, id);
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE INDEX tasks_request ON tasks (process_request_id, id);
CREATE INDEX records_collection ON records (collection_id, id);
CREATE INDEX records_updated ON records (collection_id, updated_at, id);
"""

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
PROCESSES = [
    ("Purchase Request", "Approve"),
    ("Leave Request", "Review leave"),
    ("Expense Report", "Check receipts"),
    ("New Hire Onboarding", "Prepare desk"),
    ("Invoice Approval", "Approve invoice"),
    ("Contract Review", "Legal review"),
    ("IT Ticket", "Resolve ticket"),
    ("Vendor Registration", "Verify vendor"),
]
# Keys each process adds to its requests' data (SQL over the row hash h): data differs by process.
PROCESS_DATA = [
    """',"vendor":"Vendor ' || (h % 211) || '","items":' || (1 + h % 9)""",
    """',"days":' || (1 + h % 15) || ',"leave_type":"' || CASE h % 2 WHEN 0 THEN 'annual'
       ELSE 'sick' END || '"'""",
    """',"receipts":' || (h % 7) || ',"currency":"USD"'""",
    """',"employee":"Employee ' || (h % 503) || '","department":"IT"'""",
    """',"invoice_number":"INV-' || (100000 + h % 900000) || '"'""",
    """',"counterparty":"Partner ' || (h % 97) || '","pages":' || (1 + h % 40)""",
    """',"category":"' || CASE h % 3 WHEN 0 THEN 'hardware' WHEN 1 THEN 'software'
       ELSE 'access' END || '"'""",
    """',"vendor":"Vendor ' || (h % 211) || '","tax_id":"TX' || (h % 99991) || '"'""",
]
# What every request's form adds, whatever its process: the nested objects, loops, select
# lists, free text (non-ASCII, newlines, quotes) and nulls of a real screen's answers, so that a
# request with include=data weighs about 1 KB, as ProcessMaker's own do.
COMMON_DATA = """',"form_title":"' || p.name || ' — '
    || substr('JanFebMarAprMayJunJulAugSepOctNovDec', 1 + 3 * (h % 12), 3)
    || ' ' || (2024 + h % 2) || '","requester":{"name":"'
    || CASE h % 6 WHEN 0 THEN 'Zoë' WHEN 1 THEN 'Jürgen' WHEN 2 THEN 'Ana' WHEN 3 THEN 'Chen'
       WHEN 4 THEN 'Olúwaseun' ELSE 'Priya' END || ' ' || CASE h / 6 % 5 WHEN 0 THEN 'O''Neil'
       WHEN 1 THEN 'Müller' WHEN 2 THEN 'da Silva' WHEN 3 THEN 'Wang' ELSE 'Okafor' END
    || '","email":"user' || (h % 9973) || '@example.com","department":"'
    || CASE h % 4 WHEN 0 THEN 'Finance' WHEN 1 THEN 'Human Resources'
       WHEN 2 THEN 'IT & Operations' ELSE 'Legal' END
    || '","manager":{"id":' || (1 + h % 50) || ',"fullname":"Manager ' || (h % 50) || '"}}'
    || ',"line_items":[{"description":"Item ' || (h % 89) || ' \\"standard\\"","quantity":'
    || (1 + h % 5) || ',"unit_price":' || ((h / 3) % 50000 / 100.0) || '}'
    || CASE WHEN h % 3 > 0 THEN ',{"description":"Shipping (ground)","quantity":1,'
       || '"unit_price":' || ((h / 5) % 3000 / 100.0) || '}' ELSE '' END || ']'
    || ',"cost_center":{"value":"CC-' || (100 + h % 40) || '","content":"Cost centre '
    || (100 + h % 40) || '"},"notify_by":' || CASE h % 3 WHEN 0 THEN '["email"]'
       WHEN 1 THEN '["email","sms"]' ELSE '[]' END
    || ',"due_date":"' || date(:epoch + (x - 1) * :step + 14 * 86400, 'unixepoch')
    || '","comments":"' || CASE h % 4 WHEN 0 THEN 'Urgent: needed before the audit.\\n'
       || 'Call me if anything is missing — thanks!' WHEN 1 THEN 'Per our call, São Paulo '
       || 'office (50% share).' WHEN 2 THEN '' ELSE 'See attached quote; approve by EOW.' END
    || '","attachments":' || CASE WHEN h % 5 = 0 THEN '[]' ELSE '[{"id":' || (h % 100000)
       || ',"file_name":"quote-' || (h % 1000) || '.pdf","mime_type":"application/pdf"}]' END
    || ',"signature":null,"address":{"street":"' || (1 + h % 999) || ' Main St, Suite '
    || (h % 40) || '","city":"' || CASE h / 7 % 5 WHEN 0 THEN 'Austin","country":"US'
       WHEN 1 THEN 'Berlin","country":"DE' WHEN 2 THEN 'Lagos","country":"NG'
       WHEN 3 THEN 'Porto","country":"PT' ELSE 'Pune","country":"IN' END
    || '","postal":"' || (10000 + h % 89999) || '"}'"""
COLLECTIONS = [("Customers", "Customer master data"), ("Products", "Product catalogue")]


def create_schema(db: sqlite3.Connection) -> None:
    """Create the empty tables (indexes come after seeding)."""
    db.executescript(SCHEMA + ADMIN_SCHEMA)


def seed_database(
    db: sqlite3.Connection,
    records: int,
    seed: int,
    admin_username: str,
    ties: int = 3,
    distinct_updated_at: int = 0,
) -> None:
    """Fill an empty database with ``records`` requests (one task each) and their context.

    Args:
        db: a connection to a database created by ``create_schema``.
        records: number of requests (and tasks) to generate.
        seed: salt of every generated value; the same seed gives the same rows.
        admin_username: username of user 1, the administrator the credentials belong to.
        ties: requests sharing each ``updated_at`` value (second-resolution ties, as a batch
            job or a bulk import leaves them); groups are shuffled in time so ``updated_at``
            order differs from id order.
        distinct_updated_at: when above 0, every request's ``updated_at`` is one of only this
            many values (a migration that touched everything at a few instants), spread over
            the ids by hash; ``ties`` then shapes only ``completed_at``.
    """
    ties = max(1, ties)
    if records > _DIGITS**2:
        raise ValueError(f"records must be at most {_DIGITS**2:,}")
    # Row numbers from a cross join of two small tables: several times faster than a
    # recursive CTE counting to a million.
    db.execute("CREATE TEMP TABLE digits (x INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO digits VALUES (?)", [(i,) for i in range(_DIGITS)])
    users = max(10, records // 100)
    # Room for the shuffle (up to 25 groups ahead) inside the seeded year.
    step = max(1, SPAN // max(records + 26 * ties, 1))
    _seed_small_tables(db, users, seed, admin_username)
    # natural: group g = (x-1)/ties; within each block of 13 groups, i -> (7i + seed) % 13 is a
    # bijection, so each timestamp holds exactly `ties` requests, and every one is at least a
    # group after the request's created_at.
    natural = "(:epoch + (grp / 13 * 13 + 13 + (grp % 13 * 7 + :seed) % 13) * :ties * :step)"
    db.execute(
        f"""
        WITH c(x) AS (SELECT a.x * 10000 + b.x + 1 FROM digits a, digits b
                  WHERE a.x <= (:n - 1) / 10000 AND a.x * 10000 + b.x < :n),
        g AS (SELECT x, (x * 2654435761 + :seed * 40503 + 12345) % 4294967296 AS h,
                     (x - 1) / :ties AS grp FROM c)
        INSERT INTO requests (id, process_id, user_id, status, name, case_title, data,
                              initiated_at, completed_at, created_at, updated_at)
        SELECT x, p.id, 1 + h % :users,
               CASE WHEN h % 20 < 13 THEN 'COMPLETED' WHEN h % 20 < 18 THEN 'ACTIVE'
                    WHEN h % 20 = 18 THEN 'ERROR' ELSE 'CANCELED' END,
               p.name, p.name || ' #' || x,
               -- concatenated rather than json_object(): faster at a million rows
               '{{"amount":' || ((h / 7) % 100000 / 100.0) || ',"customer":"Customer '
               || (h % 997) || '","priority":"' || CASE h % 3 WHEN 0 THEN 'low'
                                                  WHEN 1 THEN 'normal' ELSE 'high' END
               || '","approved":' || CASE WHEN h % 2 = 0 THEN 'true' ELSE 'false' END
               || {_process_data()} || {COMMON_DATA} || '}}',
               :epoch + (x - 1) * :step,
               CASE WHEN h % 20 < 13 THEN {natural} END,
               :epoch + (x - 1) * :step,
               CASE WHEN :distinct > 0 THEN :late + (h / 65536 % :distinct) * 3600
                    ELSE {natural} END
        FROM g JOIN processes p ON p.id = 1 + (h / 13) % :nproc
        """,  # noqa: S608 - the fragments are constants of this module
        {"n": records, "seed": seed, "users": users, "epoch": EPOCH, "step": step,
         "nproc": len(PROCESSES), "ties": ties, "distinct": distinct_updated_at,
         "late": EPOCH + SPAN + 86400},
    )  # fmt: skip
    # One user task per request: ACTIVE while the request is, CLOSED once it ended.
    db.execute(
        """
        INSERT INTO tasks (id, process_request_id, process_id, user_id, element_id, element_name,
                           status, due_at, completed_at, created_at, updated_at)
        SELECT r.id, r.id, r.process_id, r.user_id, p.task_element, p.task_name,
               CASE r.status WHEN 'ACTIVE' THEN 'ACTIVE' WHEN 'ERROR' THEN 'FAILING'
                             ELSE 'CLOSED' END,
               r.created_at + 3 * 86400,
               CASE WHEN r.status IN ('COMPLETED', 'CANCELED') THEN r.updated_at END,
               r.created_at, r.updated_at
        FROM requests r JOIN processes p ON p.id = r.process_id
        """
    )
    per_collection = max(10, min(records, 2000))
    db.execute(
        """
        WITH c(x) AS (SELECT a.x * 10000 + b.x + 1 FROM digits a, digits b
                  WHERE a.x <= (:n - 1) / 10000 AND a.x * 10000 + b.x < :n),
        g AS (SELECT x, (x * 2654435761 + :seed * 40503 + 12345) % 4294967296 AS h FROM c)
        INSERT INTO records (id, collection_id, data, created_at, updated_at)
        SELECT x, 1 + (x - 1) % 2,
               CASE WHEN x % 2 = 1
                    THEN json_object('name', 'Customer ' || x,
                                     'email', 'customer' || x || '@example.com',
                                     'country', substr('USBRDEFRJPIN', 1 + 2 * (h % 6), 2))
                    ELSE json_object('sku', 'SKU-' || x, 'title', 'Product ' || x,
                                     'price', (h % 100000) / 100.0) END,
               :epoch + x * 3600, :epoch + x * 3600 + h % 86400
        FROM g
        """,
        {"n": 2 * per_collection, "epoch": EPOCH, "seed": seed},
    )  # fmt: skip
    seed_admin_tables(db, EPOCH, users, PROCESSES)
    db.execute("DROP TABLE digits")
    db.executescript(INDEXES)


def _process_data() -> str:
    cases = " ".join(f"WHEN {i} THEN {sql}" for i, sql in enumerate(PROCESS_DATA, 1))
    return f"CASE p.id {cases} ELSE '' END"


def _seed_small_tables(db: sqlite3.Connection, users: int, seed: int, admin: str) -> None:
    user_rows = []
    for i in range(1, users + 1):
        first, last = FIRST[(i + seed) % len(FIRST)], LAST[(i * 7 + seed) % len(LAST)]
        username = admin if i == 1 else f"{first.lower()}.{last.lower()}{i}"
        status = "INACTIVE" if i % 17 == 0 else "ACTIVE"
        created = EPOCH - 86400 * 30 + i * 60
        user_rows.append(
            (i, username, f"{username}@example.com", first, last, status, int(i == 1),
             "Administrator" if i == 1 else "Clerk", created, created + (i * 977) % 86400)
        )  # fmt: skip
    db.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?,?,?,?)", user_rows)
    db.executemany(
        "INSERT INTO groups VALUES (?,?,?,?,?,?)",
        [
            (i, name, f"{name} team", "ACTIVE", EPOCH - 86400 * 20 + i, EPOCH - 86400 * 20 + i)
            for i, name in enumerate(["Administrators", "Managers", "Finance", "HR", "IT"], 1)
        ],
    )
    db.executemany(
        "INSERT INTO processes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (i, name, f"The {name.lower()} process", "ACTIVE", 1, 1 + i % 3, "node_1",
             f"node_{i + 1}", task, EPOCH - 86400 * 10 + i, EPOCH - 86400 * 10 + i)
            for i, (name, task) in enumerate(PROCESSES, 1)
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO collections VALUES (?,?,?,?,?)",
        [
            (i, n, d, EPOCH - 86400 * 5, EPOCH - 86400 * 5)
            for i, (n, d) in enumerate(COLLECTIONS, 1)
        ],
    )
