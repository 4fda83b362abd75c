-- golden records, and those with more than one member
select count(*), count(*) filter (where member_count > 1) from :golden
