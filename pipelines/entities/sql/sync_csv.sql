-- one system's proposals as CSV, for import after sign-off (text that would run as a formula neutralised)
copy (select :cells, requires_signoff from (
          select source_id, column_name as "column", attribute, current_value, proposed_value,
                 golden_id, requires_signoff
          from :sync_proposals where system = :system)
      order by source_id, attribute)
to :path (format csv, header)
