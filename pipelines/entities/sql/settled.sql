create or replace temp table _settled (item_id varchar, status varchar)
