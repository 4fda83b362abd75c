-- an entity's newest trained model
select version, settings_hash, fingerprint, model, path, training_log
from entities._models
where entity = ?
order by version desc
limit 1
