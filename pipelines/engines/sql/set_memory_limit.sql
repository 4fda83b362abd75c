-- [tool.kontor] memory_limit: past it DuckDB spills to <file>.tmp beside the warehouse
set memory_limit = ?
