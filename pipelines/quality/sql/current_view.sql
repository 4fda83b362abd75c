-- a raw table's __current view, as the sources stage defines one for a full delivery
create view :current as select * from :raw
