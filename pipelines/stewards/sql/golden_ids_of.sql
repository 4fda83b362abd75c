-- an id a steward typed: a golden id, or a record's unique id
select distinct golden_id from :clusters where golden_id = ? or unique_id = ?
