-- a DATEV Buchungsstapel's signed amount: S (Soll, debit on Konto) keeps the amount, H (Haben)
-- negates it; anything else becomes a text that names the problem, so the row is quarantined with it
select case when :amount is null or trim(:amount) = '' then null
            when upper(trim(:sign)) = 'S' then trim(:amount)
            when upper(trim(:sign)) = 'H' then '-' || trim(:amount)
            else :sign_label || coalesce('''' || :sign || '''', 'empty') || ' is neither S nor H' end as :signed
