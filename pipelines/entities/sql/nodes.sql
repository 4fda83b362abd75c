-- every standardised record is a node
create table :work.nodes as select unique_id from :standardised
