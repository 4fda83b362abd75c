-- records Splink matches
select count(*) from :standardised where :matchable
