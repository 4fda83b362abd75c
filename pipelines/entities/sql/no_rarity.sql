select null as unique_id, 0 as rarest
