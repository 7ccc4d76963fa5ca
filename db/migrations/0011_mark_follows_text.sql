-- 0011: a mark belongs to the text it marked (issue 20, item 5).
--
-- When a cycle note marked Partners or Public changes, by anyone, its mark goes back to the
-- lab team until the lab marks it again. `changed_from` keeps who it was shared with before the
-- change, so the lab admin sees "changed since you shared it"; marking it again clears it.
ALTER TABLE excerpt_share ADD COLUMN changed_from VARCHAR;
