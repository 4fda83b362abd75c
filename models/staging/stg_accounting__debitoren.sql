-- DATEV debtor accounts (customers), latest delivered version per account; names cut to 30
-- characters by the accounting system. The layout is shared with the creditors: macros/datev.sql.
{{ datev_accounts(source('accounting', 'debitoren__current')) }}
