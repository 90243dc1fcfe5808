-- reporting.run_quality: one row per run (day): files and documents in, what was loaded, date
-- coverage over every outlet (reporting.date_coverage has it per outlet) and quarantine counts.
create materialized view if not exists reporting.run_quality as
with coverage as (
    select run_id,
           sum(documents)::integer as dated_documents_in,
           sum(dated)::integer as dated,
           sum(low_confidence)::integer as low_confidence
      from reporting.date_coverage
     group by 1
), quarantined as (
    select run_id,
           count(*)::integer as quarantine_rows,
           (count(*) filter (where stage = 'ingest'))::integer as quarantined_at_ingest,
           (count(*) filter (where stage <> 'ingest'))::integer as quarantined_later,
           count(distinct reason)::integer as distinct_reasons
      from reporting.quarantine
     group by 1
)
select r.run_id,
       c.jalali_date as run_jalali,
       r.files_discovered,
       r.files_loaded,
       r.files_duplicate,
       r.files_quarantined,
       r.documents_seen,
       r.articles_loaded,
       r.duplicates,
       r.quarantined,
       coalesce(q.quarantine_rows, 0) as quarantine_rows,
       coalesce(q.quarantined_at_ingest, 0) as quarantined_at_ingest,
       coalesce(q.quarantined_later, 0) as quarantined_later,
       coalesce(q.distinct_reasons, 0) as distinct_reasons,
       coalesce(v.dated, 0) as dated,
       case when coalesce(v.dated_documents_in, 0) > 0
            then round(v.dated::numeric / v.dated_documents_in, 4) end as date_coverage,
       coalesce(v.low_confidence, 0) as low_confidence,
       r.loaded_at
  from reporting.runs r
  left join coverage v using (run_id)
  left join quarantined q using (run_id)
  left join reporting.calendar c on c.day::text = r.run_id;

create unique index if not exists run_quality_key on reporting.run_quality (run_id);

-- reporting.quarantine_reasons: quarantine rows per run, stage and reason (a plain view: always current).
create or replace view reporting.quarantine_reasons as
select run_id, stage, reason, count(*)::integer as rows, sum(size_bytes)::bigint as bytes
  from reporting.quarantine
 group by 1, 2, 3;
