-- 020: staging.documents pages keep room for a new version of their rows (fillfactor 50). Every stage
-- rewrites each of the day's rows (strip, normalize, date-tag, dedup), and none changes an indexed column:
-- with room on the page the new version is a heap-only tuple (no index entries), and the page's dead
-- versions are pruned when it is next written, without waiting for a VACUUM. Applies to pages written from
-- now on (ingest rewrites the day's rows). Idempotent.
alter table staging.documents set (fillfactor = 50);
