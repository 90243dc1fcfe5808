-- reporting.gate_history: every gate result in order, numbered per run and stage (attempt 1 is
-- the first check; the last one is what stands), and reporting.gate_latest: the standing result
-- of each run and stage. Plain views over reporting.gate_results: always current.
create or replace view reporting.gate_history as
select g.gate_result_id,
       g.run_id,
       g.stage,
       g.success,
       g.expectations_evaluated,
       g.expectations_failed,
       row_number() over (partition by g.run_id, g.stage order by g.checked_at, g.gate_result_id)::integer as attempt,
       (row_number() over (partition by g.run_id, g.stage order by g.checked_at desc, g.gate_result_id desc) = 1) as is_latest,
       array(select coalesce(e ->> 'description', (e ->> 'expectation') || coalesce('(' || (e ->> 'column') || ')', ''))
               from jsonb_array_elements(g.details) e
              where not (e ->> 'success')::boolean) as failed_expectations,
       g.airflow_run_id,
       g.checked_at
  from reporting.gate_results g;

create or replace view reporting.gate_latest as
select run_id, stage, success, expectations_evaluated, expectations_failed, failed_expectations, attempt as attempts, checked_at
  from reporting.gate_history
 where is_latest;
