-- a steward's chosen value (and its validity) on a golden record, no longer in review
update :golden set :sets, attributes_in_review = list_filter(attributes_in_review, lambda a: a <> :attribute)
where golden_id = ?
