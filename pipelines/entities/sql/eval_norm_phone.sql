nullif(case when :digits like '+%' then substr(:digits, 4) when :digits like '00%' then substr(:digits, 5)
            when :digits like '0%' then substr(:digits, 2) else :digits end, '')
