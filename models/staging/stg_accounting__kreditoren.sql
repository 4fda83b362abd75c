-- DATEV creditor accounts (suppliers), latest delivered version per account.
-- The layout is shared with the debtors: macros/datev.sql.
{{ datev_accounts(source('accounting', 'kreditoren__current')) }}
