-- the database unqualified names resolve in: the copy while a table's own CREATE statement (as the
-- warehouse's catalog writes it) runs there, then the warehouse again
use :database
