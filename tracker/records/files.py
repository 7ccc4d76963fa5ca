"""The data layer's read of attached images for the learning report: those the lab admin
marked public, by idea (a cycle's image belongs to the cycle's idea). Writing and reading
attachments with their scoping is tracker/community/attachments.py; this sits lower so the
report (tracker/learning) may read it."""

from __future__ import annotations

import pandas as pd

from tracker.storage.db import Database

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def public_images(db: Database, idea_ids=None) -> pd.DataFrame:
    """id, idea_id, kind, caption, content of every image marked public and not removed,
    in the order attached. The caption is the writer's text: check it for the reader."""
    where, params = "", []
    if idea_ids is not None:
        ids = [int(i) for i in idea_ids] or [-1]
        where = f" AND coalesce(a.idea_id, c.idea_id) IN ({', '.join('?' for _ in ids)})"
        params = ids
    return db.read(
        "SELECT a.id, coalesce(a.idea_id, c.idea_id) AS idea_id, a.kind, a.caption, a.content"
        " FROM attachment a LEFT JOIN cycle c ON c.id = a.cycle_id"
        " WHERE a.public AND a.removed_at IS NULL AND a.kind IN ('png', 'jpeg', 'webp')"
        f"{where} ORDER BY a.uploaded_at, a.id", params)
