-- a changed key's current version ends where the new one starts
update :relation as t set :valid_to = x.__start
from __kontor_changes as x
where :keys and t.:valid_to is null
