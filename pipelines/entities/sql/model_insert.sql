-- a newly trained model version
insert into entities._models values (?, ?, now(), ?, ?, ?, ?, ?, ?)
