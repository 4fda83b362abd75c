-- an enforced contract's not_null constraint
alter table :relation alter column :column set not null
