-- row count and two order-independent sums of the rows' 64-bit hashes
select count(*), sum(hash(t)::hugeint)::varchar, bit_xor(hash(t))::varchar from :relation as t
