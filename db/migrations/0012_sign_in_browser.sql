-- 0012: a sign-in completes only in the browser that started it (issue 21, item 12).
--
-- Before the sign-in form is shown, the server gives the browser a random cookie
-- (`tracker_browser`, HttpOnly). The one-time ticket of a sign-in is stored with a hash of
-- that cookie, and /tracker/session redeems the ticket only for a browser that sends the same
-- cookie: an attacker's own ticket, linked from another site, signs nobody else in.
ALTER TABLE web_session ADD COLUMN browser_hash VARCHAR;
