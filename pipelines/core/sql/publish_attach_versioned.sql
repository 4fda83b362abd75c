-- the serving copy, built beside the old one, in an older storage format readers open
attach ? as kontor_publish (storage_version ?)
