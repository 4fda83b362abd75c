-- Each connection to the SQLite store: wait 30 s (state.BUSY_TIMEOUT_SECONDS) for another
-- process's write, WAL so readers never block the writer, every commit on disk (it is evidence).
pragma busy_timeout = 30000;
pragma journal_mode = wal;
pragma synchronous = full;
pragma foreign_keys = on;
