-- golden values a rule chose (not a steward)
select golden_id || ':' || attribute, null::double from :conflicts
where won and reason not ilike '%steward%'
order by 1
