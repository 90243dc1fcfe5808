-- reporting.daily_volume: articles per outlet and publication day (Asia/Tehran), with the day's
-- Jalali parts from reporting.calendar so that a Jalali month or week is a plain group by.
-- Undated articles have no day and are left out (reporting.articles where published_at is null).
create materialized view if not exists reporting.daily_volume as
select coalesce(a.outlet, '(unknown)') as outlet,
       c.day,
       c.jalali_date,
       c.jalali_year,
       c.jalali_month,
       c.jalali_month_name,
       c.jalali_day,
       c.jalali_week,
       c.weekday_name,
       count(*)::integer as articles,
       (count(*) filter (where a.is_canonical))::integer as canonical_articles,
       (count(*) filter (where a.needs_review))::integer as needs_review,
       sum(a.word_count)::bigint as words
  from reporting.articles a
  join reporting.calendar c on c.day = (a.published_at at time zone 'Asia/Tehran')::date
 group by 1, c.day, c.jalali_date, c.jalali_year, c.jalali_month, c.jalali_month_name, c.jalali_day,
          c.jalali_week, c.weekday_name;

create unique index if not exists daily_volume_key on reporting.daily_volume (day, outlet);
