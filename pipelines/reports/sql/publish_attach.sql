-- the copy of the serving file that publish_facts fills and then renames into place
attach ? as kontor_facts_publish
