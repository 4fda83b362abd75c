insert into report_periods values (?, ?, ?, ?)
