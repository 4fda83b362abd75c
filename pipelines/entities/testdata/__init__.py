"""Test data for the entity stage that nobody tuned it on: an independent company generator
(:mod:`.companies`) and a runner of the entity engine on it (:mod:`.harness`)."""
