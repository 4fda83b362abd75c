-- scored pairs at or above the match threshold
select count(*) from :pairs where match_probability >= ?
