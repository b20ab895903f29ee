"""A workspace's own draft templates, kept beside the events (both stores, one code path).
What a template must be before it is kept is ``drafts.overrides``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from infrastructure.drafts.overrides import check_template
from infrastructure.store.database import Database

CREATE_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS reclaim_draft_templates (
        workspace TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace, name)
    )""",
]


@dataclass(frozen=True)
class StoredTemplate:
    workspace: str
    name: str
    source: str
    updated_by: str
    updated_at: str


class TemplateStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def all_for(self, workspace: str) -> dict[str, str]:
        rows = self.database.fetchall(
            "SELECT name, source FROM reclaim_draft_templates WHERE workspace = %s",
            (workspace,),
        )
        return {row["name"]: row["source"] for row in rows}

    def list(self, workspace: str) -> list[StoredTemplate]:
        rows = self.database.fetchall(
            "SELECT workspace, name, source, updated_by, updated_at FROM reclaim_draft_templates"
            " WHERE workspace = %s ORDER BY name",
            (workspace,),
        )
        return [StoredTemplate(**row) for row in rows]

    def get(self, workspace: str, name: str) -> StoredTemplate | None:
        row = self.database.fetchone(
            "SELECT workspace, name, source, updated_by, updated_at FROM reclaim_draft_templates"
            " WHERE workspace = %s AND name = %s",
            (workspace, name),
        )
        return StoredTemplate(**row) if row else None

    def put(self, workspace: str, name: str, source: str, updated_by: str) -> StoredTemplate:
        check_template(name, source)
        now = datetime.now(UTC).isoformat()
        with self.database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM reclaim_draft_templates WHERE workspace = %s AND name = %s",
                (workspace, name),
            )
            cursor.execute(
                "INSERT INTO reclaim_draft_templates"
                " (workspace, name, source, updated_by, updated_at) VALUES (%s, %s, %s, %s, %s)",
                (workspace, name, source, updated_by, now),
            )
        return StoredTemplate(workspace, name, source, updated_by, now)

    def delete(self, workspace: str, name: str) -> bool:
        with self.database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM reclaim_draft_templates WHERE workspace = %s AND name = %s",
                (workspace, name),
            )
            return cursor.rowcount > 0
