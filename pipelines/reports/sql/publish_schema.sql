create schema if not exists kontor_facts_publish.reports
