-- a CSV file as text columns, every option fixed (nothing sniffed); what the parser rejects goes to _kontor_rejects
select * from read_csv(:path, columns = :columns, header = :header, auto_detect = false,
    delim = :delimiter, quote = :quote, escape = :escape, encoding = 'utf-8', skip = :skip,
    strict_mode = true, null_padding = false, store_rejects = true,
    rejects_table = '_kontor_rejects', rejects_scan = '_kontor_rejects_scan')
