insert into kontor.gate_fingerprints values (?, ?, ?, ?, ?)
